/* pipeline-count-words, the listener "word-counter": a pipeline step. Gets
 * an empty <count-words/> and the entry tokens; responds with
 * <word_counts words="N" distinct="M"> and the ten most frequent words
 * (textmill_count_words), stored as the entry word_counts. */
#include "textmill.h"

static xmlNodePtr count_words(const xb_msg_t *msg, char *err, size_t errlen)
{
    return textmill_count_words(xb_msg_memory(msg, "tokens"), err, errlen);
}

int main(int argc, char **argv)
{
    return textmill_main(argc, argv, count_words);
}
