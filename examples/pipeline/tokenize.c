/* pipeline-tokenize, the listener "tokenizer": a pipeline step. Gets an
 * empty <tokenize/> and the entry document; responds with the document in
 * <tokens> of <paragraph>s of <w>ords (textmill_tokenize), which the pump
 * stores as the entry tokens. */
#include "textmill.h"

static xmlNodePtr tokenize(const xb_msg_t *msg, char *err, size_t errlen)
{
    return textmill_tokenize(xb_msg_memory(msg, "document"), err, errlen);
}

int main(int argc, char **argv)
{
    return textmill_main(argc, argv, tokenize);
}
