# Fails unless README.md holds EXAMPLE's text verbatim (the README shows what the tests compile and run).
file(READ ${README} readme)
file(READ ${EXAMPLE} example)
string(FIND "${readme}" "${example}" at)
if(at EQUAL -1)
  get_filename_component(name ${EXAMPLE} NAME)
  message(FATAL_ERROR "README.md does not contain tests/readme/${name} verbatim: update one from the other")
endif()
