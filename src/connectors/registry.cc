#include "connectors/connector.h"

// Every built-in connector registers here, in one place.
// Each connector folder exposes `void Register<Name>(Registry*)`.
namespace sluice {
void RegisterSqlite(Registry* registry);
void RegisterFiles(Registry* registry);

void RegisterBuiltinConnectors(Registry* registry) {
  RegisterSqlite(registry);
  RegisterFiles(registry);
}

const Registry& Registry::Global() {
  static const Registry registry = [] {
    Registry r;
    RegisterBuiltinConnectors(&r);
    return r;
  }();
  return registry;
}

void Registry::Add(ConnectorInfo info) { connectors_.push_back(std::move(info)); }

const ConnectorInfo* Registry::Find(std::string_view scheme) const {
  for (const auto& c : connectors_) {
    if (c.scheme == scheme) return &c;
  }
  return nullptr;
}

namespace {
template <typename Factory>
Result<std::pair<const ConnectorInfo*, Uri>> Resolve(
    const Registry& reg, std::string_view text, bool sink,
    const std::vector<std::pair<std::string, std::string>>& extra, Options* options,
    Factory pick) {
  SLUICE_ASSIGN_OR_RETURN(Uri uri, Uri::Parse(text));
  const ConnectorInfo* info = reg.Find(uri.scheme);
  if (info == nullptr) {
    std::string known;
    for (const auto& c : reg.connectors()) known += (known.empty() ? "" : ", ") + c.scheme;
    return Status::InvalidArgument("unknown endpoint scheme '" + uri.scheme + "' in '" +
                                   uri.Redacted() + "' (known: " + known + ")");
  }
  if (!pick(*info)) {
    return Status::InvalidArgument("'" + uri.scheme + "' cannot be used as a " +
                                   (sink ? "destination" : "source"));
  }
  auto given = uri.query;
  for (const auto& kv : extra) {
    for (const auto& q : uri.query) {
      if (q.first == kv.first) {
        return Status::InvalidArgument("option '" + kv.first +
                                       "' given both in the URI and as a flag");
      }
    }
    given.push_back(kv);
  }
  std::string ctx = uri.scheme + (sink ? " destination" : " source");
  SLUICE_ASSIGN_OR_RETURN(*options, Options::Parse(sink ? info->sink_options : info->source_options,
                                                   given, ctx));
  return std::make_pair(info, std::move(uri));
}
}  // namespace

Result<std::unique_ptr<Source>> Registry::MakeSource(
    std::string_view uri, const std::vector<std::pair<std::string, std::string>>& extra) const {
  Options options;
  SLUICE_ASSIGN_OR_RETURN(auto resolved, Resolve(*this, uri, false, extra, &options,
                                                 [](const ConnectorInfo& i) { return bool(i.make_source); }));
  return resolved.first->make_source(resolved.second, options);
}

Result<std::unique_ptr<Sink>> Registry::MakeSink(
    std::string_view uri, const std::vector<std::pair<std::string, std::string>>& extra) const {
  Options options;
  SLUICE_ASSIGN_OR_RETURN(auto resolved, Resolve(*this, uri, true, extra, &options,
                                                 [](const ConnectorInfo& i) { return bool(i.make_sink); }));
  return resolved.first->make_sink(resolved.second, options);
}

}  // namespace sluice
