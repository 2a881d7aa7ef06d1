# Writes OUT, a C++ file defining partyd::quiz::pack_sources() over the JSON files in PACKS
# (separated by |), each kept as a raw string literal. Run by the build (CMakeLists.txt).
string(REPLACE "|" ";" PACKS "${PACKS}")
set(body "")
set(delimiter "quizpack")
foreach(file IN LISTS PACKS)
  file(READ "${file}" content)
  string(FIND "${content}" ")${delimiter}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${file} contains the raw-string delimiter )${delimiter}\"")
  endif()
  get_filename_component(name "${file}" NAME)
  string(APPEND body "    {\"${name}\", R\"${delimiter}(${content})${delimiter}\"},\n")
endforeach()
file(WRITE "${OUT}.tmp" "// Generated from games/quiz/packs by cmake/embed_quiz_packs.cmake. Do not edit.
#include \"games/quiz/pack_data.hpp\"

namespace partyd::quiz {

namespace {
const pack_source sources[] = {
${body}};
}  // namespace

std::span<const pack_source> pack_sources() { return sources; }

}  // namespace partyd::quiz
")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
