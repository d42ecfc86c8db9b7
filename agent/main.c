/*
 * p11agentd: holds PKCS#11 tokens and signs for clients over a Unix
 * socket, as ssh-agent does for SSH keys.  Start-up order matters: the
 * configuration file and the options are read, the socket is bound (or
 * taken from systemd) and the PIN asked for before daemonising, and
 * modules are initialised only after the fork (PKCS#11 state does not
 * survive fork).  docs/DESIGN.md describes the threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent.h"
#include "audit.h"
#include "config.h"
#include "identity.h"
#include "jobs.h"
#include "kill.h"
#include "listen.h"
#include "log.h"
#include "monitor.h"
#include "p11agent/error.h"
#include "server.h"

static void
print_env(const struct agent_options *opt, const char *path, pid_t pid)
{
	if (opt->csh) {
		printf("setenv P11AGENT_SOCK %s;\nsetenv P11AGENT_PID %d;\n",
		       path, (int)pid);
	} else {
		printf("P11AGENT_SOCK=%s; export P11AGENT_SOCK;\n"
		       "P11AGENT_PID=%d; export P11AGENT_PID;\n",
		       path, (int)pid);
	}
	printf("echo Agent pid %d;\n", (int)pid);
	fflush(stdout);
}

/*
 * Detach.  The parent waits until the child reports that it is serving
 * (or failed), so `eval "$(p11agentd)"` only exports a working socket.
 * Returns in the child with *ready_fd set; exits in the parent.
 */
static void
daemonize(const struct agent_options *opt, const char *path, int *ready_fd)
{
	int p[2], devnull;
	char status = 1;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0 || (pid = fork()) < 0) {
		perror("p11agentd: fork");
		exit(1);
	}
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &status, 1) != 1 || status != 0) {
			fprintf(stderr, "p11agentd: agent failed to start "
					"(see syslog)\n");
			exit(1);
		}
		print_env(opt, path, pid);
		exit(0);
	}
	close(p[0]);
	setsid();
	if (chdir("/") != 0)
		exit(1);
	if ((devnull = open("/dev/null", O_RDWR)) >= 0) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		if (devnull > STDERR_FILENO)
			close(devnull);
	}
	*ready_fd = p[1];
}

static void
report_ready(int ready_fd, char status)
{
	if (ready_fd < 0)
		return;
	if (write(ready_fd, &status, 1) != 1)
		log_warn("cannot report readiness to the parent");
	close(ready_fd);
}

/* The PIN every token without its own PIN source logs in with. */
static int
read_global_pin(const struct agent_options *opt, struct pin *pin)
{
	if (opt->pin_source != NULL)
		return pin_from_source(opt->pin_source, pin);
	if (isatty(STDIN_FILENO))
		return pin_from_tty("PIN for the tokens: ", pin);
	return P11A_OK;
}

static unsigned
default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 16 ? 16 : (unsigned)n;
}

/*
 * On a link's thread: a module's helper was restarted.  Its tokens lost
 * their login; a probe on each token's own queue logs in again with the
 * cached PIN (and lists the keys' new handles).
 */
static void
agent_helper_restarted(void *ctx)
{
	struct agent *a = ctx;

	for (size_t i = 0; i < a->modules.n_tokens; i++)
		if (token_needs_login(a->modules.tokens[i]))
			monitor_probe(a->modules.tokens[i]);
}

/* Sessions, first login, identities and workers for one token. */
static int
token_start(struct token *t, const struct pin *global_pin, unsigned workers)
{
	struct pin own = {0};
	int r;

	if ((r = registry_token_pin(t, &own)) != P11A_OK)
		return r;
	if (own.value == NULL && global_pin->value != NULL)
		r = pin_set(&own, global_pin->value, global_pin->len);
	if (r == P11A_OK && own.value != NULL)
		r = token_set_pin(t, own.value, own.len);
	pin_clear(&own);
	if (r != P11A_OK)
		return r;
	if ((r = token_open_sessions(t, t->helper_sessions, workers)) !=
	    P11A_OK)
		return r;
	/* a refused or missing PIN leaves the token locked, not fatal */
	token_login(t);
	return jobs_start(t);
}

static int
agent_start_tokens(struct agent *a, const struct pin *global_pin)
{
	const struct agent_options *opt = a->opt;
	unsigned workers = opt->workers ? opt->workers : default_workers();
	int r;

	if ((r = registry_init(opt->identities, opt->n_identities)) !=
		    P11A_OK ||
	    (r = modules_load(opt, workers, &a->modules)) != P11A_OK)
		return r;
	modules_set_restart_hook(&a->modules, agent_helper_restarted, a);
	/* a slot event: look at that token now (there is no polling then) */
	modules_set_event_hook(&a->modules, monitor_probe);
	if (a->modules.n_tokens == 0)
		log_warn("no token found; serving an empty identity list");
	for (size_t i = 0; i < a->modules.n_tokens; i++)
		if ((r = token_start(a->modules.tokens[i], global_pin,
				     workers)) != P11A_OK)
			return r;
	return P11A_OK;
}

static void
agent_stop_tokens(struct agent *a)
{
	struct module_set *ms = &a->modules;

	monitor_stop();
	for (size_t i = 0; i < ms->n_tokens; i++) {
		struct token *t = ms->tokens[i];

		if (!t->stuck && jobs_stop(t, 5000) != 0)
			t->stuck = 1;
		if (!t->stuck && token_get_state(t) == TOKEN_READY)
			token_logout(t);
	}
	/*
	 * The helpers finalise their modules; one that hangs is killed,
	 * which also lets a worker that still waits for it return.
	 */
	modules_stop(ms, 2000);
	for (size_t i = 0; i < ms->n_tokens; i++) {
		struct token *t = ms->tokens[i];

		if (t->stuck && jobs_stop(t, 1000) != 0)
			continue;
		jobs_free(t);
		token_close_sessions(t);
	}
	registry_free();
	modules_free(ms);
}

/* Keep PINs out of core files and away from same-uid debuggers. */
static void
harden_process(const struct agent_options *opt)
{
	struct rlimit none = {0, 0};

	if (opt->debug)
		return;
	if (setrlimit(RLIMIT_CORE, &none) != 0 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		log_warn("cannot disable core dumps: %s", strerror(errno));
}

static void
block_signals(void)
{
	sigset_t mask;

	/* before any thread exists, so only the event loop sees them */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Bad options exit 2, a bad configuration 1; --check-config always 1. */
static int
options_exit_code(enum options_result r, const struct agent_options *opt)
{
	if (r == OPTIONS_DONE)
		return 0;
	return r == OPTIONS_CONFIG || opt->check_config ? 1 : 2;
}

/* The socket, then the PIN; a failure in either leaves nothing behind. */
static int
open_socket_and_pin(const struct agent_options *opt, struct listener *l,
		    struct pin *pin)
{
	/* the socket first: a second agent fails before asking for a PIN */
	if (listener_open(opt->socket_path, l) != P11A_OK)
		return -1;
	if (read_global_pin(opt, pin) != P11A_OK) {
		pin_clear(pin);
		listener_close(l);
		return -1;
	}
	return 0;
}

/*
 * Detach (see daemonize), log to syslog from then on, and make the
 * socket name us for -k.  Returns 0 in the child; -1 (reported to the
 * parent) on failure.
 */
static int
detach(const struct agent_options *opt, struct listener *l, int *ready_fd)
{
	daemonize(opt, l->path, ready_fd);
	log_init("p11agentd", 1, (enum log_level)opt->log_level);
	if (listener_claim(l) != P11A_OK) {
		report_ready(*ready_fd, 1);
		return -1;
	}
	return 0;
}

/*
 * Start the tokens with the PIN (then wiped), serve until SIGTERM, stop
 * the tokens; the listener is closed on every path.  Returns the exit
 * status.
 */
static int
agent_run(struct agent *a, struct listener *l, struct pin *pin, int ready_fd)
{
	const struct agent_options *opt = a->opt;
	int r;

	block_signals();
	a->started = time(NULL);
	atomic_store(&a->last_use_ms, jobs_now_ms());
	r = agent_start_tokens(a, pin);
	pin_clear(pin);
	pin_env_forget();
	if (r == P11A_OK)
		r = monitor_start(a);
	else
		log_error("start-up failed: %s", p11a_strerror(r));
	if (r != P11A_OK) {
		report_ready(ready_fd, 1);
		agent_stop_tokens(a);
		listener_close(l);
		return 1;
	}
	report_ready(ready_fd, 0);
	if (opt->foreground && !l->activated)
		print_env(opt, l->path, getpid());
	log_info("listening on %s%s", l->path,
		 l->activated ? " (passed by the service manager)" : "");
	r = server_run(a, l->fd);
	/* no new clients while the tokens stop */
	listener_close(l);
	agent_stop_tokens(a);
	log_info("stopped");
	return r == P11A_OK ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct agent_options opt;
	struct agent a = {.opt = &opt};
	struct listener l;
	struct pin pin = {0};
	enum options_result res;
	int r = 1, ready_fd = -1;

	if ((res = options_parse(argc, argv, &opt)) != OPTIONS_OK) {
		r = options_exit_code(res, &opt);
		goto out_options;
	}
	if (opt.check_config) {
		config_print(stdout, &opt);
		r = fflush(stdout) == 0 ? 0 : 1;
		goto out_options;
	}
	if (opt.kill_agent) {
		r = kill_agent(opt.csh);
		goto out_options;
	}
	log_init("p11agentd", 0, (enum log_level)opt.log_level);
	if (opt.pin_value_in_argv)
		log_warn("a pin-value in an --identity on the command line "
			 "can be read by every user in /proc/PID/cmdline "
			 "(hidden now, but not from the start): use "
			 "pin-source=file:PATH in the URI, --pin-source, or "
			 "the configuration file");
	harden_process(&opt);
	if (audit_open(opt.audit) != P11A_OK)
		goto out_options;
	if (open_socket_and_pin(&opt, &l, &pin) != 0)
		goto out_audit;
	/* under socket activation the service manager supervises us */
	if (!opt.foreground && !l.activated &&
	    detach(&opt, &l, &ready_fd) != 0) {
		pin_clear(&pin);
		listener_close(&l);
		goto out_audit;
	}
	r = agent_run(&a, &l, &pin, ready_fd);
out_audit:
	audit_close();
out_options:
	options_free(&opt);
	return r;
}
