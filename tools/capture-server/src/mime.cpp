#include "sluice/capture/mime.hpp"

#include <algorithm>
#include <optional>
#include <sluice/core/encoding.hpp>

namespace sluice::capture {
namespace {

constexpr int kMaxDepth = 8;  // nested multipart containers followed

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Lines of `text` without their line ends (CRLF or a bare LF).
std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto nl = text.find('\n', start);
    std::string_view line =
        text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return out;
}

struct Entity {
  std::map<std::string, std::string> headers;
  std::string body;
};

// Splits at the first empty line; unfolds continuation lines.
Entity SplitEntity(std::string_view raw) {
  Entity e;
  const auto lines = Lines(raw);
  std::size_t i = 0;
  std::string name;
  std::string value;
  auto flush = [&] {
    if (!name.empty() && e.headers.count(name) == 0) e.headers[name] = std::string(Trim(value));
    name.clear();
    value.clear();
  };
  for (; i < lines.size(); ++i) {
    const auto line = lines[i];
    if (line.empty()) {
      ++i;
      break;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      value += line;  // folded: the line break goes, the whitespace stays
      continue;
    }
    flush();
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // not a header: ignored
    name = Lower(Trim(line.substr(0, colon)));
    value = std::string(line.substr(colon + 1));
  }
  flush();
  for (std::size_t j = i; j < lines.size(); ++j) {
    e.body += lines[j];
    if (j + 1 < lines.size()) e.body += "\r\n";
  }
  return e;
}

struct ContentType {
  std::string type = "text/plain";
  std::map<std::string, std::string> params;  // names lower-cased
};

ContentType ParseContentType(std::string_view value) {
  ContentType ct;
  std::vector<std::string> pieces;
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (quoted && c == '\\' && i + 1 < value.size()) {
      cur += value[++i];
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ';' && !quoted) {
      pieces.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  pieces.push_back(cur);
  const auto type = Lower(Trim(pieces.front()));
  if (type.find('/') != std::string::npos) ct.type = type;
  for (std::size_t i = 1; i < pieces.size(); ++i) {
    const auto eq = pieces[i].find('=');
    if (eq == std::string::npos) continue;
    ct.params[Lower(Trim(std::string_view(pieces[i]).substr(0, eq)))] =
        std::string(Trim(std::string_view(pieces[i]).substr(eq + 1)));
  }
  return ct;
}

std::string Get(const std::map<std::string, std::string>& m, const std::string& key) {
  const auto it = m.find(key);
  return it == m.end() ? "" : it->second;
}

std::string DecodeBody(const Entity& e) {
  const auto cte = Lower(Trim(Get(e.headers, "content-transfer-encoding")));
  if (cte == "base64") return DecodeBase64(e.body);
  if (cte == "quoted-printable") return DecodeQuotedPrintable(e.body);
  return e.body;
}

// The parts of a multipart body between "--boundary" lines, up to "--boundary--".
std::vector<std::string> SplitMultipart(std::string_view body, const std::string& boundary) {
  std::vector<std::string> parts;
  const std::string open = "--" + boundary;
  const std::string close = open + "--";
  std::optional<std::string> cur;  // nullopt: in the preamble
  bool first_line = true;
  for (const auto line : Lines(body)) {
    const auto t = Trim(line);
    if (t == close) break;
    if (t == open) {
      if (cur) parts.push_back(*cur);
      cur.emplace();
      first_line = true;
      continue;
    }
    if (!cur) continue;
    if (!first_line) *cur += "\r\n";
    *cur += line;
    first_line = false;
  }
  if (cur) parts.push_back(*cur);  // the last part, closed or not
  return parts;
}

void Collect(const Entity& e, EmailMessage& out, int depth) {
  const auto ct = ParseContentType(Get(e.headers, "content-type"));
  if (ct.type.rfind("multipart/", 0) == 0) {
    const auto boundary = Get(ct.params, "boundary");
    if (boundary.empty() || depth >= kMaxDepth) return;
    for (const auto& part : SplitMultipart(e.body, boundary)) {
      Collect(SplitEntity(part), out, depth + 1);
    }
    return;
  }
  const auto disposition = Lower(Trim(Get(e.headers, "content-disposition")));
  if (disposition.rfind("attachment", 0) == 0) return;
  if (ct.type == "text/plain" && out.text.empty()) {
    out.text = DecodeBody(e);
  } else if (ct.type == "text/html" && out.html.empty()) {
    out.html = DecodeBody(e);
  }
}

struct Word {
  std::string text;
  std::size_t end = 0;
};

// The encoded word starting at `pos` ("=?charset?B?...?="), decoded.
std::optional<Word> EncodedWord(std::string_view in, std::size_t pos) {
  if (in.compare(pos, 2, "=?") != 0) return std::nullopt;
  const auto q1 = in.find('?', pos + 2);
  if (q1 == std::string_view::npos || q1 + 2 >= in.size() || in[q1 + 2] != '?') {
    return std::nullopt;
  }
  const char enc = static_cast<char>(std::toupper(static_cast<unsigned char>(in[q1 + 1])));
  const auto end = in.find("?=", q1 + 3);
  if (end == std::string_view::npos || (enc != 'B' && enc != 'Q')) return std::nullopt;
  const auto text = in.substr(q1 + 3, end - q1 - 3);
  if (std::any_of(text.begin(), text.end(), IsSpace)) return std::nullopt;
  Word w;
  w.end = end + 2;
  if (enc == 'B') {
    w.text = DecodeBase64(text);
  } else {
    std::string qp(text);
    std::replace(qp.begin(), qp.end(), '_', ' ');
    w.text = DecodeQuotedPrintable(qp);
  }
  return w;
}

}  // namespace

std::string EmailMessage::Header(std::string_view name) const { return Get(headers, Lower(name)); }

std::string DecodeBase64(std::string_view in) {
  // Mail bodies wrap base64 in lines: keep the alphabet up to the first '=', decode that.
  std::string clean;
  clean.reserve(in.size());
  for (const char c : in) {
    if (c == '=') break;
    if (Base64Value(c) >= 0) clean += c;
  }
  if (clean.size() % 4 == 1) clean.pop_back();  // a dangling sixth of a byte
  return core::Base64Decode(clean).value_or("");
}

std::string DecodeQuotedPrintable(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c != '=') {
      out += c;
      continue;
    }
    if (in.compare(i + 1, 2, "\r\n") == 0) {
      i += 2;  // soft line break
    } else if (i + 1 < in.size() && in[i + 1] == '\n') {
      i += 1;
    } else if (i + 2 < in.size() && HexValue(in[i + 1]) >= 0 && HexValue(in[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string DecodeHeaderWords(std::string_view in) {
  std::string out;
  bool after_word = false;
  std::size_t i = 0;
  while (i < in.size()) {
    if (const auto w = EncodedWord(in, i)) {
      out += w->text;
      i = w->end;
      after_word = true;
      continue;
    }
    if (after_word && IsSpace(in[i])) {
      std::size_t j = i;
      while (j < in.size() && IsSpace(in[j])) ++j;
      if (!EncodedWord(in, j)) out.append(in.substr(i, j - i));
      i = j;
      after_word = false;
      continue;
    }
    out += in[i++];
    after_word = false;
  }
  return out;
}

std::vector<std::string> SplitAddressList(std::string_view in) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  int angle = 0;
  int comment = 0;
  auto flush = [&] {
    const auto t = Trim(cur);
    if (!t.empty()) out.push_back(DecodeHeaderWords(t));
    cur.clear();
  };
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (quoted && c == '\\' && i + 1 < in.size()) {
      cur += c;
      cur += in[++i];
      continue;
    }
    if (c == '"' && comment == 0) {
      quoted = !quoted;
    } else if (!quoted) {
      if (c == '(') ++comment;
      if (c == ')' && comment > 0) --comment;
      if (comment == 0 && c == '<') ++angle;
      if (comment == 0 && c == '>' && angle > 0) --angle;
      if (c == ',' && angle == 0 && comment == 0) {
        flush();
        continue;
      }
    }
    cur += c;
  }
  flush();
  return out;
}

EmailMessage ParseEmail(std::string_view raw) {
  const Entity top = SplitEntity(raw);
  EmailMessage m;
  m.headers = top.headers;
  m.from = DecodeHeaderWords(Get(top.headers, "from"));
  m.to = SplitAddressList(Get(top.headers, "to"));
  m.cc = SplitAddressList(Get(top.headers, "cc"));
  m.subject = DecodeHeaderWords(Get(top.headers, "subject"));
  Collect(top, m, 0);
  return m;
}

}  // namespace sluice::capture
