#include <mmrag_rft/mmrag_rft.hpp>
int odr_helper() { return mmrag_rft::group_layout::uniform(2, 2).num_items() == 4 ? 0 : 1; }
