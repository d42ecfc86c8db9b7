/*
 * Replays fuzz inputs through LLVMFuzzerTestOneInput() without
 * libFuzzer, so that every build (gcc too) checks the seed corpus and
 * any crash file: each argument is a file or a directory of files.
 * Exit status 0 when every input ran, 1 when one could not be read (a
 * failing input aborts, which the test runner reports).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs larger than any frame stream worth replaying are refused. */
#define INPUT_MAX (4u << 20)

static int
run_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	size_t n;
	FILE *f;
	int r = -1;

	if ((f = fopen(path, "rb")) == NULL || fstat(fileno(f), &st) != 0 ||
	    st.st_size < 0 || (size_t)st.st_size > INPUT_MAX) {
		perror(path);
		goto out;
	}
	/* exactly the input's size, so ASan sees any read past its end */
	n = (size_t)st.st_size;
	if ((buf = malloc(n > 0 ? n : 1)) == NULL || fread(buf, 1, n, f) != n) {
		fprintf(stderr, "%s: cannot read\n", path);
		free(buf);
		goto out;
	}
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	r = 0;
out:
	if (f != NULL)
		fclose(f);
	return r;
}

static int
run_dir(const char *dir, unsigned *count)
{
	struct dirent *e;
	char path[4096];
	DIR *d;
	int r = 0;

	if ((d = opendir(dir)) == NULL) {
		perror(dir);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (run_file(path) != 0)
			r = -1;
		else
			(*count)++;
	}
	closedir(d);
	return r;
}

int
main(int argc, char **argv)
{
	unsigned count = 0;
	struct stat st;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			rc = 1;
		} else if (S_ISDIR(st.st_mode)) {
			rc |= run_dir(argv[i], &count) != 0;
		} else if (run_file(argv[i]) != 0) {
			rc = 1;
		} else {
			count++;
		}
	}
	printf("ran %u inputs\n", count);
	if (count == 0)
		rc = 1;
	return rc;
}
