/*
 * The provider's key URIs (client/provider/uri.c), compiled in: the
 * p11agent: forms, RFC 7512 attribute matching with percent-decoding,
 * and the choice of exactly one identity.  Prints one line per failed
 * check; exit status 0 when all pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov.h"

static int failures;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			failures++;                                            \
		}                                                              \
	} while (0)

static const char *const have =
	"pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;"
	"serial=4b37bee0a89dd8d2;token=My%20Token;id=%01%A0;object=k-rsa;"
	"type=private";

static void
parse_forms(void)
{
	struct p11a_key_uri u;

	CHECK(p11a_key_uri_parse("p11agent:0123456789ABCDEF0123456789abcdef",
				 &u) == P11A_OK);
	CHECK(u.id != NULL &&
	      strcmp(u.id, "0123456789abcdef0123456789abcdef") == 0);
	CHECK(u.pkcs11 == NULL);
	p11a_key_uri_clear(&u);

	CHECK(p11a_key_uri_parse("P11AGENT:pkcs11:object=x", &u) == P11A_OK);
	CHECK(u.pkcs11 != NULL && strcmp(u.pkcs11, "pkcs11:object=x") == 0);
	CHECK(u.id == NULL);
	p11a_key_uri_clear(&u);

	/* as long as an id, and still a URI */
	CHECK(p11a_key_uri_parse("p11agent:pkcs11:token=team-a;object=rsa-1",
				 &u) == P11A_OK);
	CHECK(u.pkcs11 != NULL &&
	      strcmp(u.pkcs11, "pkcs11:token=team-a;object=rsa-1") == 0);
	CHECK(u.id == NULL);
	p11a_key_uri_clear(&u);

	/* wrong scheme, short or long ids, non-hex, nothing after the colon */
	CHECK(p11a_key_uri_parse("pkcs11:object=x", &u) != P11A_OK);
	CHECK(p11a_key_uri_parse("p11agent:0123", &u) != P11A_OK);
	CHECK(p11a_key_uri_parse("p11agent:0123456789abcdef0123456789abcdef0",
				 &u) != P11A_OK);
	CHECK(p11a_key_uri_parse("p11agent:0123456789abcdef0123456789abcdeg",
				 &u) != P11A_OK);
	CHECK(p11a_key_uri_parse("p11agent:", &u) != P11A_OK);
	CHECK(p11a_key_uri_parse(NULL, &u) != P11A_OK);
}

static void
attribute_matching(void)
{
	CHECK(p11a_pkcs11_uri_matches("pkcs11:object=k-rsa", have));
	CHECK(p11a_pkcs11_uri_matches("pkcs11:token=My%20Token;object=k-rsa",
				      have));
	/* percent-encoding is compared decoded, in either case */
	CHECK(p11a_pkcs11_uri_matches("pkcs11:id=%01%a0", have));
	CHECK(p11a_pkcs11_uri_matches("pkcs11:object=%6b-rsa", have));
	CHECK(p11a_pkcs11_uri_matches("pkcs11:token=My%20Token;type=private",
				      have));
	/* query attributes do not take part */
	CHECK(p11a_pkcs11_uri_matches("pkcs11:object=k-rsa?pin-value=1234",
				      have));
	/* no attributes: everything matches */
	CHECK(p11a_pkcs11_uri_matches("pkcs11:", have));

	CHECK(!p11a_pkcs11_uri_matches("pkcs11:object=k-rs", have));
	CHECK(!p11a_pkcs11_uri_matches("pkcs11:object=k-rsa2", have));
	CHECK(!p11a_pkcs11_uri_matches("pkcs11:id=%01", have));
	CHECK(!p11a_pkcs11_uri_matches("pkcs11:type=cert", have));
	CHECK(!p11a_pkcs11_uri_matches("pkcs11:slot-id=1", have));
	/* malformed: bad escapes, an attribute without a value or name */
	CHECK(!p11a_pkcs11_uri_matches("pkcs11:id=%0", have));
	CHECK(!p11a_pkcs11_uri_matches("pkcs11:id=%zz", have));
	CHECK(!p11a_pkcs11_uri_matches("pkcs11:object", have));
	CHECK(!p11a_pkcs11_uri_matches("pkcs11:=k-rsa", have));
	CHECK(!p11a_pkcs11_uri_matches("file:object=k-rsa", have));
}

static void
finding(void)
{
	struct p11a_identity items[3];
	struct p11a_identity_list list = {3, items};
	struct p11a_key_uri u;
	size_t i = 99;

	memset(items, 0, sizeof(items));
	items[0].id = "00000000000000000000000000000000";
	items[0].uri = "pkcs11:token=A;object=one;type=private";
	items[1].id = "11111111111111111111111111111111";
	items[1].uri = "pkcs11:token=A;object=two;type=private";
	items[2].id = "22222222222222222222222222222222";
	items[2].uri = "pkcs11:token=B;object=one;type=private";

	CHECK(p11a_key_uri_parse("p11agent:pkcs11:object=two", &u) == P11A_OK);
	CHECK(p11a_key_uri_find(&u, &list, &i) == P11A_OK && i == 1);
	p11a_key_uri_clear(&u);

	CHECK(p11a_key_uri_parse("p11agent:pkcs11:object=one", &u) == P11A_OK);
	CHECK(p11a_key_uri_find(&u, &list, &i) == P11A_ERR_IDENTITY_AMBIGUOUS);
	p11a_key_uri_clear(&u);

	CHECK(p11a_key_uri_parse("p11agent:pkcs11:token=B;object=one", &u) ==
	      P11A_OK);
	CHECK(p11a_key_uri_find(&u, &list, &i) == P11A_OK && i == 2);
	p11a_key_uri_clear(&u);

	CHECK(p11a_key_uri_parse("p11agent:22222222222222222222222222222222",
				 &u) == P11A_OK);
	CHECK(p11a_key_uri_find(&u, &list, &i) == P11A_OK && i == 2);
	p11a_key_uri_clear(&u);

	CHECK(p11a_key_uri_parse("p11agent:33333333333333333333333333333333",
				 &u) == P11A_OK);
	CHECK(p11a_key_uri_find(&u, &list, &i) == P11A_ERR_IDENTITY_NOT_FOUND);
	p11a_key_uri_clear(&u);
}

int
main(void)
{
	parse_forms();
	attribute_matching();
	finding();
	if (failures == 0)
		printf("ok: key URIs\n");
	return failures == 0 ? 0 : 1;
}
