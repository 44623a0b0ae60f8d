// sluice release create|list|get
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>

#include "../commands.hpp"
#include "../format.hpp"

namespace sluice::cli {
namespace {

using nlohmann::json;

struct CreateOptions {
  std::string app, tag, version, url, sha, by, commit, repo, kind, image, image_digest;
};

void AddCreate(Commands& commands, CLI::App* release) {
  auto o = std::make_shared<CreateOptions>();
  auto* create = release->add_subcommand("create", "register a release (as CI does)");
  create->add_option("--app", o->app, "application name")->required();
  create->add_option("--tag", o->tag, "git tag, e.g. v1.2.3")->required();
  create->add_option("--version", o->version, "version (default: from the tag)");
  create->add_option("--artifact-url", o->url, "artifact URL")->required();
  create->add_option("--sha256", o->sha, "artifact sha256")->required();
  create->add_option("--created-by", o->by, "who built it");
  create->add_option("--commit", o->commit, "git commit");
  create->add_option("--repo", o->repo, "repository");
  create->add_option("--kind", o->kind, "tarball | image | model");
  create->add_option("--image", o->image,
                     "the image Kubernetes targets run (a tarball release that also goes to them)");
  create->add_option("--image-digest", o->image_digest, "that image's digest, sha256:<hex>");
  commands.On(create, [o](Invocation& in) {
    json body = {{"app", o->app}, {"tag", o->tag}, {"artifact_url", o->url}, {"sha256", o->sha}};
    if (!o->version.empty()) body["version"] = o->version;
    if (!o->by.empty()) body["created_by"] = o->by;
    if (!o->commit.empty()) body["commit"] = o->commit;
    if (!o->repo.empty()) body["repo"] = o->repo;
    if (!o->kind.empty()) body["artifact_kind"] = o->kind;
    if (!o->image.empty()) body["image"] = o->image;
    if (!o->image_digest.empty()) body["image_digest"] = o->image_digest;
    return Call(in.g, "POST", "/v1/releases", body);
  });
}

struct ListOptions {
  std::string app, tag, since, until;
  int limit = 20;
};

void AddList(Commands& commands, CLI::App* release) {
  auto o = std::make_shared<ListOptions>();
  auto* list = release->add_subcommand("list", "list releases, newest first");
  list->add_option("--app", o->app, "only this application");
  list->add_option("--tag", o->tag, "only releases whose tag contains this (case-sensitive)");
  list->add_option("--since", o->since,
                   "only releases created at or after this: an RFC 3339 time or a duration "
                   "before now (2h, 1h30m, 7d)");
  list->add_option("--until", o->until, "only releases created before this (as --since)");
  list->add_option("--limit", o->limit, "how many");
  commands.On(list, [o](Invocation& in) {
    std::string error;
    const auto range =
        ResolveTimeRange(o->since, o->until, std::chrono::system_clock::now(), error);
    if (!range) throw UsageError(error);
    std::string path = "/v1/releases?limit=" + std::to_string(o->limit);
    if (!o->app.empty()) path += "&app=" + Enc(o->app);
    if (!o->tag.empty()) path += "&tag=" + Enc(o->tag);
    if (!range->since.empty()) path += "&since=" + Enc(range->since);
    if (!range->until.empty()) path += "&until=" + Enc(range->until);
    return Show(in.g, path,
                Items({{"ID", "id"},
                       {"APP", "app"},
                       {"VERSION", "version"},
                       {"TAG", "tag"},
                       {"CREATED-BY", "created_by"},
                       {"CREATED", "created_at"}},
                      "no releases"));
  });
}

}  // namespace

void AddReleaseCommands(Commands& commands) {
  auto* release = commands.root().add_subcommand("release", "create, list and show releases");
  release->require_subcommand(1);
  AddCreate(commands, release);
  AddList(commands, release);
  auto id = std::make_shared<std::string>();
  auto* get = release->add_subcommand("get", "show one release");
  get->add_option("id", *id, "release id")->required();
  commands.On(get, [id](Invocation& in) { return Show(in.g, "/v1/releases/" + Enc(*id), Fields); });
}

}  // namespace sluice::cli
