#include "sandbox.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "log.h"

/*
 * A deny list, not an allow list: vendor modules open files, sockets
 * (pcscd, a network HSM, swtpm), threads and memory in ways nobody can
 * list in advance, but none of them runs programs, debugs processes or
 * changes the system.  A module that does is run unconfined
 * (--unconfined-module).
 */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_LSAN 1
#endif
#endif

static const int denied[] = {
	SYS_execve,
	SYS_execveat,
#ifndef SANDBOX_LSAN
	/* LeakSanitizer stops the threads with ptrace at exit */
	SYS_ptrace,
#endif
	SYS_process_vm_readv,
	SYS_process_vm_writev,
	SYS_kexec_load,
	SYS_kexec_file_load,
	SYS_init_module,
	SYS_finit_module,
	SYS_delete_module,
	SYS_mount,
	SYS_umount2,
	SYS_pivot_root,
	SYS_chroot,
	SYS_bpf,
	SYS_perf_event_open,
	SYS_setns,
	SYS_unshare,
	SYS_userfaultfd,
	SYS_personality,
	SYS_swapon,
	SYS_swapoff,
	SYS_reboot,
};

#define N_DENIED (sizeof(denied) / sizeof(denied[0]))

#if defined(__x86_64__)
#define SANDBOX_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef SANDBOX_ARCH
int
sandbox_enter(void)
{
	/* arch check, load nr, one test per denied call, allow, deny */
	struct sock_filter f[4 + 2 * N_DENIED + 2];
	struct sock_fprog prog = {.len = 0, .filter = f};
	unsigned n = 0;

	f[n++] = (struct sock_filter)BPF_STMT(
		BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	/* another ABI (x32, i386 on x86_64) could dodge the numbers */
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
					      SANDBOX_ARCH, 1, 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
					      SECCOMP_RET_ERRNO | EPERM);
	f[n++] = (struct sock_filter)BPF_STMT(
		BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (size_t i = 0; i < N_DENIED; i++) {
		f[n++] = (struct sock_filter)BPF_JUMP(
			BPF_JMP | BPF_JEQ | BPF_K, (unsigned)denied[i], 0, 1);
		f[n++] = (struct sock_filter)BPF_STMT(
			BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	}
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
					      SECCOMP_RET_ALLOW);
	prog.len = (unsigned short)n;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
		log_warn("no system-call filter: %s", strerror(errno));
		return -1;
	}
	return 0;
}
#else
int
sandbox_enter(void)
{
	log_warn("no system-call filter on this architecture");
	return -1;
}
#endif
