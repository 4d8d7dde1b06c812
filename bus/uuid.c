/* Canonical UUID4 strings (see include/xmlbus/uuid.h). */
#include "xmlbus/uuid.h"

#include <string.h>
#include <uuid/uuid.h>

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool xb_uuid_is_canonical(const char *s)
{
    if (!s)
        return false;
    for (int i = 0; i < XB_UUID_LEN; i++) {
        char c = s[i];
        if (c == '\0')
            return false;
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!is_lower_hex(c)) {
            return false;
        }
    }
    if (s[XB_UUID_LEN] != '\0')
        return false;
    /* Version nibble 4, variant 10xx (8, 9, a or b). */
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

void xb_uuid_new(char out[XB_UUID_LEN + 1])
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}
