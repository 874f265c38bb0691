#include <mmrag_rft/mmrag_rft.hpp>
int odr_helper();
int main() { return odr_helper(); }
