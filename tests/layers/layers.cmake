# The build enforces the layers: a source of layer L that includes a header of a layer L does not
# link fails to compile ("No such file"). Each probe is one include, compiled against one layer's
# library alone; ctest builds it and expects that failure. The allowed probes (a header of a layer
# below) must build, so the failures are the include rule's and nothing else's.
#   gpuhours_layer_probe(FROM_LAYER HEADER allowed|forbidden)
function(gpuhours_layer_probe layer header expect)
  string(MAKE_C_IDENTIFIER "${layer}_${header}" id)
  set(src ${PROJECT_BINARY_DIR}/layer_probes/${id}.cpp)
  file(WRITE ${src} "// ${layer} includes ${header}: ${expect}\n#include \"${header}\"\nint ${id}_probe() { return 0; }\n")
  add_library(layer_probe_${id} OBJECT EXCLUDE_FROM_ALL ${src})
  target_link_libraries(layer_probe_${id} PRIVATE gpuhours::${layer})
  add_test(NAME "layers: ${layer} ${expect} to include ${header}"
           COMMAND ${CMAKE_COMMAND} --build ${PROJECT_BINARY_DIR} --target layer_probe_${id})
  if(expect STREQUAL "forbidden")
    set_tests_properties("layers: ${layer} ${expect} to include ${header}" PROPERTIES
                         PASS_REGULAR_EXPRESSION "${header}: No such file")
  endif()
endfunction()

gpuhours_layer_probe(core gpuhours/model.hpp forbidden)
gpuhours_layer_probe(models gpuhours/hardware.hpp forbidden)
gpuhours_layer_probe(hardware gpuhours/model.hpp forbidden)
gpuhours_layer_probe(scenario gpuhours/engine.hpp forbidden)
gpuhours_layer_probe(engine gpuhours/network.hpp forbidden)
gpuhours_layer_probe(engine gpuhours/scenario.hpp forbidden)
gpuhours_layer_probe(network gpuhours/step.hpp forbidden)
gpuhours_layer_probe(parallel gpuhours/run.hpp forbidden)
gpuhours_layer_probe(run gpuhours/check.hpp forbidden)
gpuhours_layer_probe(studies gpuhours/report.hpp forbidden)
gpuhours_layer_probe(report gpuhours/cli.hpp forbidden)
gpuhours_layer_probe(network gpuhours/engine.hpp allowed)
gpuhours_layer_probe(parallel gpuhours/network.hpp allowed)
gpuhours_layer_probe(report gpuhours/sweep.hpp allowed)
