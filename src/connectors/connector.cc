#include "connectors/connector.h"

namespace sluice {

void Registry::Add(ConnectorInfo info) { connectors_.push_back(std::move(info)); }

const ConnectorInfo* Registry::Find(std::string_view scheme) const {
  for (const auto& c : connectors_) {
    if (c.scheme == scheme) return &c;
  }
  return nullptr;
}

namespace {

enum class Role { kSource, kSink, kPublisher, kSubscriber };

bool HasFactory(const ConnectorInfo& info, Role role) {
  switch (role) {
    case Role::kSource: return bool(info.make_source);
    case Role::kSink: return bool(info.make_sink);
    case Role::kPublisher: return bool(info.make_publisher);
    case Role::kSubscriber: return bool(info.make_subscriber);
  }
  return false;
}

std::string_view RoleNoun(Role role) {
  switch (role) {
    case Role::kSource: return "source";
    case Role::kSink: return "destination";
    case Role::kPublisher: return "part destination (export --to)";
    case Role::kSubscriber: return "part origin (import FROM)";
  }
  return "?";
}

// The schemes that can play `role`, for error messages.
std::string SchemesFor(const Registry& reg, Role role) {
  std::string out;
  for (const auto& c : reg.connectors()) {
    if (HasFactory(c, role)) out += (out.empty() ? "" : ", ") + c.scheme;
  }
  return out.empty() ? "none" : out;
}

struct Resolved {
  const ConnectorInfo* info;
  Uri uri;
  Options options;
};

Result<Resolved> Resolve(const Registry& reg, std::string_view text, Role role,
                         const std::vector<std::pair<std::string, std::string>>& extra) {
  SLUICE_ASSIGN_OR_RETURN(Uri uri, Uri::Parse(text));
  const ConnectorInfo* info = reg.Find(uri.scheme);
  if (info == nullptr) {
    std::string known;
    for (const auto& c : reg.connectors()) known += (known.empty() ? "" : ", ") + c.scheme;
    return Status::InvalidArgument("unknown endpoint scheme '" + uri.scheme + "' in '" +
                                   uri.Redacted() + "' (known: " + known + ")");
  }
  if (!HasFactory(*info, role)) {
    return Status::InvalidArgument("'" + uri.scheme + "' cannot be used as a " +
                                   std::string(RoleNoun(role)) + " (possible: " +
                                   SchemesFor(reg, role) + ")");
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
  const bool source_side = role == Role::kSource || role == Role::kSubscriber;
  std::string ctx = uri.scheme + (source_side ? " source" : " destination");
  SLUICE_ASSIGN_OR_RETURN(
      Options options,
      Options::Parse(source_side ? info->source_options : info->sink_options, given, ctx));
  return Resolved{info, std::move(uri), std::move(options)};
}

}  // namespace

Result<std::unique_ptr<Source>> Registry::MakeSource(
    std::string_view uri, const std::vector<std::pair<std::string, std::string>>& extra) const {
  SLUICE_ASSIGN_OR_RETURN(Resolved r, Resolve(*this, uri, Role::kSource, extra));
  return r.info->make_source(r.uri, r.options);
}

Result<std::unique_ptr<Sink>> Registry::MakeSink(
    std::string_view uri, const std::vector<std::pair<std::string, std::string>>& extra) const {
  SLUICE_ASSIGN_OR_RETURN(Resolved r, Resolve(*this, uri, Role::kSink, extra));
  return r.info->make_sink(r.uri, r.options);
}

Result<std::unique_ptr<PartPublisher>> Registry::MakePublisher(
    std::string_view uri, const std::vector<std::pair<std::string, std::string>>& extra) const {
  SLUICE_ASSIGN_OR_RETURN(Resolved r, Resolve(*this, uri, Role::kPublisher, extra));
  return r.info->make_publisher(r.uri, r.options);
}

Result<std::unique_ptr<PartSubscriber>> Registry::MakeSubscriber(
    std::string_view uri, const std::vector<std::pair<std::string, std::string>>& extra) const {
  SLUICE_ASSIGN_OR_RETURN(Resolved r, Resolve(*this, uri, Role::kSubscriber, extra));
  return r.info->make_subscriber(r.uri, r.options);
}

Status CheckBatchesMatch(const Schema& schema, const std::vector<RecordBatch>& batches,
                         const std::string& context) {
  for (const RecordBatch& b : batches) {
    if (b.num_columns() != schema.num_fields()) {
      return Status::InvalidArgument(context + ": batch has " + std::to_string(b.num_columns()) +
                                     " columns, the sink was opened with " +
                                     std::to_string(schema.num_fields()));
    }
    for (int c = 0; c < b.num_columns(); ++c) {
      if (!(b.column(c).type == schema.field(c).type)) {
        return Status::InvalidArgument(context + ": column \"" + schema.field(c).name + "\" is " +
                                       b.column(c).type.ToString() + ", expected " +
                                       schema.field(c).type.ToString());
      }
    }
  }
  return Status::OK();
}

}  // namespace sluice
