/* fuzz_s3_xml.c - libFuzzer target: what the s3 sink makes of a store's
 * XML answers (plugins/s3/xml.c): a ListObjectsV2 page, an Error, an
 * InitiateMultipartUpload and a CompleteMultipartUpload answer, and the
 * times in them.  The body is read whole before it is parsed, so it is
 * not fed in chunks. */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/s3/s3_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct s3_list_page page;
	char why[256], code[128], msg[512];
	char *s = malloc(size + 1);
	char *id;
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&page, 0, sizeof(page));
	if (s3_xml_list(s, size, &page, why, sizeof(why)) == 0) {
		if (page.n && !page.v)
			abort();
	}
	s3_list_page_free(&page);
	(void)s3_xml_error(s, size, code, sizeof(code), msg, sizeof(msg));
	id = s3_xml_upload_id(s, size);
	free(id);
	(void)s3_xml_complete(s, size, code, sizeof(code), msg, sizeof(msg));
	(void)s3_parse_time(s);
	free(s);
	return 0;
}
