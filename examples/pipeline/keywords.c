/* pipeline-keywords, the listener "keyword-extractor" (a cpu_bound pool of
 * two worker processes): a pipeline step. Gets an empty <extract-keywords/>
 * and the entry tokens; responds with the five most frequent words that are
 * no stopwords, <keywords><keyword>..</keyword>...</keywords>
 * (textmill_keywords), stored as the entry keywords. */
#include "textmill.h"

static xmlNodePtr keywords(const xb_msg_t *msg, char *err, size_t errlen)
{
    return textmill_keywords(xb_msg_memory(msg, "tokens"), err, errlen);
}

int main(int argc, char **argv)
{
    return textmill_main(argc, argv, keywords);
}
