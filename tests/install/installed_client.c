/*
 * A program built only against the installed libp11agent (through
 * pkg-config or find_package), as a user of the package would build it.
 *
 *   installed_client list                      ID URI, one per line
 *   installed_client sign ID SCHEME IN OUT     sign file IN, write OUT
 *
 * The socket comes from $P11AGENT_SOCK.  Exit status 0 on success.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11agent/client.h>

#define MAX_INPUT 65536

static int
list(p11a_client *c)
{
	struct p11a_identity_list ids = {0};
	int r;

	if ((r = p11a_client_list(c, &ids)) != P11A_OK)
		return r;
	for (size_t i = 0; i < ids.n; i++)
		printf("%s %s\n", ids.items[i].id, ids.items[i].uri);
	p11a_identity_list_free(&ids);
	return P11A_OK;
}

static int
read_file(const char *path, uint8_t *buf, size_t *len)
{
	FILE *f = fopen(path, "rb");

	if (f == NULL)
		return P11A_ERR_INVALID_ARGUMENT;
	*len = fread(buf, 1, MAX_INPUT, f);
	fclose(f);
	return P11A_OK;
}

static int
write_file(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL)
		return P11A_ERR_INVALID_ARGUMENT;
	ok = fwrite(buf, 1, len, f) == len;
	ok = fclose(f) == 0 && ok;
	return ok ? P11A_OK : P11A_ERR_IO;
}

static int
sign(p11a_client *c, char **argv)
{
	static uint8_t data[MAX_INPUT];
	struct p11a_sign_request req = {.identity = argv[0]};
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	int r;

	if ((r = p11a_scheme_from_name(argv[1], &req.scheme)) != P11A_OK ||
	    (r = read_file(argv[2], data, &req.data_len)) != P11A_OK)
		return r;
	req.data = data;
	if ((r = p11a_client_sign(c, &req, &sig, &sig_len)) != P11A_OK)
		return r;
	r = write_file(argv[3], sig, sig_len);
	free(sig);
	return r;
}

int
main(int argc, char **argv)
{
	p11a_client *c = NULL;
	int r;

	int is_list = argc == 2 && strcmp(argv[1], "list") == 0;
	int is_sign = argc == 6 && strcmp(argv[1], "sign") == 0;

	if (!is_list && !is_sign) {
		fprintf(stderr, "usage: installed_client list | sign ID SCHEME "
				"IN OUT\n");
		return 2;
	}
	if ((r = p11a_client_connect(NULL, &c)) == P11A_OK)
		r = is_list ? list(c) : sign(c, argv + 2);
	if (r != P11A_OK)
		fprintf(stderr, "installed_client: %s: %s\n", p11a_strerror(r),
			c != NULL ? p11a_client_last_message(c) : "");
	p11a_client_close(c);
	return r == P11A_OK ? 0 : 1;
}
