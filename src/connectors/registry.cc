// The one place where built-in connectors register.
//
// Each connector folder src/connectors/<dir>/ builds a library named
// sluice_connector_<dir> exposing `void Register<Name>(Registry*)`.
// src/connectors/CMakeLists.txt links the libraries that exist into
// sluice_connectors and defines SLUICE_WITH_<DIR>=1 for each, so this file
// builds while connectors are still being written.
#include "connectors/connector.h"

namespace sluice {

#if SLUICE_WITH_SQLITE
void RegisterSqlite(Registry* registry);
#endif
#if SLUICE_WITH_FILE
void RegisterFiles(Registry* registry);
#endif
#if SLUICE_WITH_PARTS
void RegisterParts(Registry* registry);
#endif
#if SLUICE_WITH_GEN
void RegisterGen(Registry* registry);
#endif
#if SLUICE_WITH_KAFKA
void RegisterKafka(Registry* registry);
#endif
#if SLUICE_WITH_RABBITMQ
void RegisterRabbitmq(Registry* registry);
#endif
#if SLUICE_WITH_POSTGRES
void RegisterPostgres(Registry* registry);
#endif
#if SLUICE_WITH_MYSQL
void RegisterMysql(Registry* registry);
#endif
#if SLUICE_WITH_CLICKHOUSE
void RegisterClickhouse(Registry* registry);
#endif

void RegisterBuiltinConnectors([[maybe_unused]] Registry* registry) {
#if SLUICE_WITH_SQLITE
  RegisterSqlite(registry);
#endif
#if SLUICE_WITH_FILE
  RegisterFiles(registry);
#endif
#if SLUICE_WITH_PARTS
  RegisterParts(registry);
#endif
#if SLUICE_WITH_GEN
  RegisterGen(registry);
#endif
#if SLUICE_WITH_KAFKA
  RegisterKafka(registry);
#endif
#if SLUICE_WITH_RABBITMQ
  RegisterRabbitmq(registry);
#endif
#if SLUICE_WITH_POSTGRES
  RegisterPostgres(registry);
#endif
#if SLUICE_WITH_MYSQL
  RegisterMysql(registry);
#endif
#if SLUICE_WITH_CLICKHOUSE
  RegisterClickhouse(registry);
#endif
}

const Registry& Registry::Global() {
  // Built once, on first use, and immutable afterwards: safe to share.
  static const Registry registry = [] {
    Registry r;
    RegisterBuiltinConnectors(&r);
    return r;
  }();
  return registry;
}

}  // namespace sluice
