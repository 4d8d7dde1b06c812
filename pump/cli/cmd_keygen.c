/* `xmlbus keygen NAME [--dir DIR]`: a CURVE keypair as NAME.key (public,
 * 0644) and NAME.key_secret (secret, 0600) (docs/security.md, "Key files"). */
#include <getopt.h>
#include <stdio.h>

#include "cli_common.h"
#include "commands.h"
#include "xmlbus/keys.h"

static const char keygen_usage[] =
    "usage: xmlbus keygen NAME [--dir DIR]\n"
    "\n"
    "Generates a CURVE keypair and writes it as DIR/NAME.key (the public key,\n"
    "mode 0644: hand it out) and DIR/NAME.key_secret (public and secret key,\n"
    "mode 0600: keep it). Never overwrites a key file. Prints both paths and\n"
    "the public key; the secret key is never printed.\n"
    "\n"
    "options:\n"
    "  -d, --dir DIR        where to write the files (default: the current folder)\n"
    "  -h, --help           this text\n"
    "\n"
    "exit: 0 written, 1 failure (a file exists, cannot write), 2 usage\n";

int xb_cmd_keygen(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
        if (opt == 'h')
            return xb_cli_usage(keygen_usage, true);
        if (opt != 'd')
            return xb_cli_usage(keygen_usage, false);
        dir = optarg;
    }
    if (optind + 1 != argc) {
        xb_cli_fail("keygen", optind < argc ? "one NAME only" : "NAME missing");
        return xb_cli_usage(keygen_usage, false);
    }
    xb_key_t key;
    xb_error_t err;
    xb_error_clear(&err);
    char pub[4096], sec[4096];
    if (xb_key_paths(dir, argv[optind], pub, sec, sizeof pub, &err) != 0) {
        xb_cli_fail("keygen", "%s", err.message);
        return xb_cli_usage(keygen_usage, false);
    }
    int rc = xb_key_generate(&key, &err);
    if (rc == 0)
        rc = xb_key_save(&key, dir, argv[optind], pub, sec, sizeof pub, &err);
    if (rc != 0) {
        xb_key_wipe(&key);
        xb_cli_fail("keygen", "%s", err.message);
        return XB_EXIT_FAIL;
    }
    printf("public key file: %s\nsecret key file: %s\npublic key:      %s\n", pub, sec,
           key.public_key);
    xb_key_wipe(&key);
    return XB_EXIT_OK;
}
