/* The oldest libcurl, OpenSSL and cJSON the module builds with (README:
 * Install).  Checked before anything uses them, so that an older library
 * stops the build with one line naming it, not with a page of undeclared
 * names. */
#ifndef CAB_REQUIREMENTS_H
#define CAB_REQUIREMENTS_H

#include <cjson/cJSON.h>
#include <curl/curlver.h>
#include <openssl/opensslv.h>

/* curl_multi_poll arrived in 7.66.0.  CURLOPT_PROTOCOLS_STR (7.85.0) is
 * used where present, CURLOPT_PROTOCOLS below it (easy.c). */
#if !defined(LIBCURL_VERSION_NUM) || LIBCURL_VERSION_NUM < 0x074200
#error "libcurl is too old: codearts-batchresult needs libcurl 7.66.0 or later (curl_multi_poll)"
#endif

/* EVP_MAC, EVP_MD_fetch and EVP_DigestInit_ex2 arrived in OpenSSL 3.0
 * (LibreSSL has none of them, and no OPENSSL_VERSION_MAJOR). */
#if !defined(OPENSSL_VERSION_MAJOR) || OPENSSL_VERSION_MAJOR < 3
#error "OpenSSL is too old: codearts-batchresult needs OpenSSL 3.0 or later (EVP_MAC, EVP_MD_fetch)"
#endif

/* cJSON_ParseWithLength and cJSON_ParseWithLengthOpts arrived in 1.7.13. */
#if !defined(CJSON_VERSION_MAJOR) || \
    (CJSON_VERSION_MAJOR * 10000 + CJSON_VERSION_MINOR * 100 + CJSON_VERSION_PATCH) < 10713
#error "cJSON is too old: codearts-batchresult needs cJSON 1.7.13 or later (cJSON_ParseWithLengthOpts)"
#endif

#endif
