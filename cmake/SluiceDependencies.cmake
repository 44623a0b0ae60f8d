# Every dependency comes from Debian packages (scripts/install-deps.sh installs them).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(GTest REQUIRED)
find_package(Protobuf REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(CLI11 REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(CURL REQUIRED)
find_package(prometheus-cpp REQUIRED)
# Debian's HiredisConfigVersion.cmake is broken (string REPLACE with too few arguments): use pkg-config.
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka++)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
pkg_check_modules(LIBARCHIVE REQUIRED IMPORTED_TARGET libarchive)
pkg_check_modules(LIBSSH REQUIRED IMPORTED_TARGET libssh)

# Debian's cpp-httplib is compiled: httplib.h holds declarations, libcpp-httplib.so the code.
# No CMake package ships with it, so the target is made here.
find_path(HTTPLIB_INCLUDE_DIR httplib.h REQUIRED)
find_library(SLUICE_CPP_HTTPLIB_LIBRARY NAMES cpp-httplib REQUIRED)
add_library(sluice_httplib INTERFACE)
target_include_directories(sluice_httplib SYSTEM INTERFACE ${HTTPLIB_INCLUDE_DIR})
target_compile_definitions(sluice_httplib INTERFACE CPPHTTPLIB_OPENSSL_SUPPORT)
target_link_libraries(sluice_httplib INTERFACE ${SLUICE_CPP_HTTPLIB_LIBRARY} OpenSSL::SSL
                                               OpenSSL::Crypto Threads::Threads)
add_library(sluice::httplib ALIAS sluice_httplib)
