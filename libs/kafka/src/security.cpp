#include <fstream>
#include <sluice/core/config.hpp>
#include <sluice/kafka/config.hpp>

namespace sluice::kafka {

namespace {

constexpr const char* kProtocolKey = "SLUICE_KAFKA_SECURITY_PROTOCOL";
constexpr const char* kMechanismKey = "SLUICE_KAFKA_SASL_MECHANISM";
constexpr const char* kUsernameKey = "SLUICE_KAFKA_SASL_USERNAME";
constexpr const char* kPasswordKey = "SLUICE_KAFKA_SASL_PASSWORD";
constexpr const char* kPasswordFileKey = "SLUICE_KAFKA_SASL_PASSWORD_FILE";
constexpr const char* kCaKey = "SLUICE_KAFKA_SSL_CA_LOCATION";

}  // namespace

KafkaSecurity ReadSecurity(core::EnvConfig& env) {
  KafkaSecurity s;
  s.protocol = env.String(kProtocolKey, s.protocol);
  if (s.protocol != "plaintext" && s.protocol != "ssl" && s.protocol != "sasl_plaintext" &&
      s.protocol != "sasl_ssl") {
    throw core::ConfigError(std::string(kProtocolKey) + "=" + s.protocol +
                            ": use plaintext, ssl, sasl_plaintext or sasl_ssl");
  }
  // Read (and so known to RejectUnknown) whatever the protocol, to refuse what does not apply.
  const std::string mechanism = env.String(kMechanismKey, "");
  const std::string username = env.String(kUsernameKey, "");
  const std::string password_file = env.String(kPasswordFileKey, "");
  if (!env.String(kPasswordKey, "").empty()) {
    throw core::ConfigError(std::string(kPasswordKey) + " is set: give the password in a file, " +
                            kPasswordFileKey + " (the environment of a process is readable)");
  }
  const std::string ca = env.String(kCaKey, "");

  if (!s.Sasl()) {
    for (const auto& [key, value] :
         {std::pair{kMechanismKey, &mechanism}, std::pair{kUsernameKey, &username},
          std::pair{kPasswordFileKey, &password_file}}) {
      if (!value->empty()) {
        throw core::ConfigError(std::string(key) + " is set but " + kProtocolKey + "=" +
                                s.protocol + " uses no SASL: use sasl_ssl, or unset it");
      }
    }
  } else {
    s.sasl_mechanism = mechanism.empty() ? "SCRAM-SHA-512" : mechanism;
    if (s.sasl_mechanism != "SCRAM-SHA-512" && s.sasl_mechanism != "SCRAM-SHA-256" &&
        s.sasl_mechanism != "PLAIN") {
      throw core::ConfigError(std::string(kMechanismKey) + "=" + s.sasl_mechanism +
                              ": use SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN");
    }
    if (username.empty()) {
      throw core::ConfigError(std::string(kProtocolKey) + "=" + s.protocol + " needs " +
                              kUsernameKey + " (the principal this service connects as)");
    }
    if (password_file.empty()) {
      throw core::ConfigError(std::string(kProtocolKey) + "=" + s.protocol + " needs " +
                              kPasswordFileKey + " (a file holding the principal's password)");
    }
    s.sasl_username = username;
    // Secret names the _FILE key when the file cannot be read or is empty.
    s.sasl_password = env.Secret(kPasswordKey).value_or("");
  }
  if (!ca.empty()) {
    if (!s.Tls()) {
      throw core::ConfigError(std::string(kCaKey) + " is set but " + kProtocolKey + "=" +
                              s.protocol + " uses no TLS: use ssl or sasl_ssl, or unset it");
    }
    if (!std::ifstream(ca)) {
      throw core::ConfigError(std::string(kCaKey) + "=\"" + ca +
                              "\" cannot be read: point it at the PEM file of the brokers' CA");
    }
    s.ssl_ca_location = ca;
  }
  return s;
}

std::map<std::string, std::string> SecurityProperties(const KafkaSecurity& security) {
  std::map<std::string, std::string> p{{"security.protocol", security.protocol}};
  if (security.Sasl()) {
    p.emplace("sasl.mechanism", security.sasl_mechanism);
    p.emplace("sasl.username", security.sasl_username);
    p.emplace("sasl.password", security.sasl_password);
  }
  if (security.Tls() && !security.ssl_ca_location.empty()) {
    p.emplace("ssl.ca.location", security.ssl_ca_location);
  }
  return p;
}

}  // namespace sluice::kafka
