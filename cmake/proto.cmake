# rampart_proto(TARGET PROTOS a.proto b.proto ... [GRPC]): a static library with the protobuf
# (and, with GRPC, the gRPC service) code generated from proto/<path>. Consumers include
# "<path without .proto>.pb.h" / ".grpc.pb.h", e.g. "rampart/agent.grpc.pb.h" for
# proto/rampart/agent.proto.
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_program(RAMPART_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
set(RAMPART_PROTO_ROOT ${CMAKE_SOURCE_DIR}/proto)
set(RAMPART_PROTO_OUT ${CMAKE_BINARY_DIR}/proto_gen)
file(MAKE_DIRECTORY ${RAMPART_PROTO_OUT})

function(rampart_proto target)
  cmake_parse_arguments(P "GRPC" "" "PROTOS" ${ARGN})
  set(srcs)
  foreach(proto ${P_PROTOS})
    get_filename_component(abs ${RAMPART_PROTO_ROOT}/${proto} ABSOLUTE)
    string(REGEX REPLACE "\\.proto$" "" stem ${proto})
    set(outs ${RAMPART_PROTO_OUT}/${stem}.pb.cc ${RAMPART_PROTO_OUT}/${stem}.pb.h)
    set(args --cpp_out=${RAMPART_PROTO_OUT})
    if(P_GRPC)
      list(APPEND outs ${RAMPART_PROTO_OUT}/${stem}.grpc.pb.cc ${RAMPART_PROTO_OUT}/${stem}.grpc.pb.h)
      list(APPEND args --grpc_out=${RAMPART_PROTO_OUT} --plugin=protoc-gen-grpc=${RAMPART_GRPC_CPP_PLUGIN})
    endif()
    add_custom_command(
      OUTPUT ${outs}
      COMMAND protobuf::protoc -I ${RAMPART_PROTO_ROOT} ${args} ${abs}
      DEPENDS ${abs} protobuf::protoc
      COMMENT "protoc ${proto}")
    foreach(o ${outs})
      if(o MATCHES "\\.cc$")
        list(APPEND srcs ${o})
      endif()
    endforeach()
  endforeach()
  add_library(${target} STATIC ${srcs})
  # Generated code is not ours to warn about.
  target_compile_options(${target} PRIVATE -w)
  target_include_directories(${target} SYSTEM PUBLIC ${RAMPART_PROTO_OUT})
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf)
  if(P_GRPC)
    target_link_libraries(${target} PUBLIC gRPC::grpc++)
  endif()
endfunction()
