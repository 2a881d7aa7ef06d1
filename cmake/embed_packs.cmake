# Writes OUT, a C++ file defining partyd::<GAME>::pack_sources() (declared in
# games/<GAME>/pack_data.hpp) over the JSON files in PACKS (separated by |), each kept as a raw
# string literal. Run by the build for every game with shipped packs (CMakeLists.txt).
string(REPLACE "|" ";" PACKS "${PACKS}")
set(body "")
set(delimiter "${GAME}pack")
foreach(file IN LISTS PACKS)
  file(READ "${file}" content)
  string(FIND "${content}" ")${delimiter}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${file} contains the raw-string delimiter )${delimiter}\"")
  endif()
  get_filename_component(name "${file}" NAME)
  string(APPEND body "    {\"${name}\", R\"${delimiter}(${content})${delimiter}\"},\n")
endforeach()
file(WRITE "${OUT}.tmp" "// Generated from games/${GAME}/packs by cmake/embed_packs.cmake. Do not edit.
#include \"games/${GAME}/pack_data.hpp\"

namespace partyd::${GAME} {

namespace {
const pack_source sources[] = {
${body}};
}  // namespace

std::span<const pack_source> pack_sources() { return sources; }

}  // namespace partyd::${GAME}
")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
