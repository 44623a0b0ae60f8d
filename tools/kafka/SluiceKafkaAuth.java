// Applies scripts/kafka-acls.conf to a KRaft cluster through the Admin API: one SCRAM-SHA-512
// credential per principal (its password from <dir>/kafka-<principal>.password) and exactly the
// ACLs of the table for each principal (missing ones created, others of that principal deleted).
// Run by scripts/stack.sh with the broker's own jars, as a single-file program:
//   java -cp 'libs/*' SluiceKafkaAuth.java BOOTSTRAP TABLE PASSWORD_DIR
// BOOTSTRAP is a listener whose principal may alter credentials and ACLs (the local stack's
// PLAINTEXT listener, whose ANONYMOUS principal is a super user).
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;

public class SluiceKafkaAuth {
  static final int SCRAM_ITERATIONS = 8192;

  static void fail(String what) {
    System.err.println("kafka auth: " + what);
    System.exit(2);
  }

  static void allow(Set<AclBinding> acls, String user, ResourceType type, String name,
                    AclOperation op) {
    PatternType pattern = PatternType.LITERAL;
    if (name.endsWith("*")) {
      name = name.substring(0, name.length() - 1);
      pattern = PatternType.PREFIXED;
    }
    if (name.isEmpty()) fail("a bare * would grant every " + type + "; name a prefix");
    acls.add(new AclBinding(new ResourcePattern(type, name, pattern),
        new AccessControlEntry(user, "*", op, AclPermissionType.ALLOW)));
  }

  static Map<String, Set<AclBinding>> readTable(Path table) throws Exception {
    Map<String, Set<AclBinding>> want = new LinkedHashMap<>();
    int n = 0;
    for (String raw : Files.readAllLines(table, StandardCharsets.UTF_8)) {
      n++;
      String line = raw.replaceAll("#.*", "").trim();
      if (line.isEmpty()) continue;
      String[] f = line.split("\\s+");
      String where = table + ":" + n + ": ";
      if (f.length < 3) fail(where + "want PRINCIPAL KIND NAME...");
      if (!f[0].matches("[a-z][a-z0-9-]*")) fail(where + "principal " + f[0] + ": use [a-z0-9-]");
      String user = "User:" + f[0];
      Set<AclBinding> acls = want.computeIfAbsent(f[0], k -> new LinkedHashSet<>());
      for (int i = 2; i < f.length; i++) {
        switch (f[1]) {
          case "read" -> allow(acls, user, ResourceType.TOPIC, f[i], AclOperation.READ);
          case "write" -> allow(acls, user, ResourceType.TOPIC, f[i], AclOperation.WRITE);
          case "group" -> allow(acls, user, ResourceType.GROUP, f[i], AclOperation.READ);
          case "create" -> {
            allow(acls, user, ResourceType.TOPIC, f[i], AclOperation.CREATE);
            allow(acls, user, ResourceType.TOPIC, f[i], AclOperation.DESCRIBE);
          }
          default -> fail(where + "kind " + f[1] + ": use read, write, group or create");
        }
      }
    }
    return want;
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 3) fail("usage: SluiceKafkaAuth BOOTSTRAP TABLE PASSWORD_DIR");
    Map<String, Set<AclBinding>> want = readTable(Path.of(args[1]));
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    props.put(AdminClientConfig.CLIENT_ID_CONFIG, "sluice-stack-auth");
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
    try (Admin admin = Admin.create(props)) {
      List<UserScramCredentialAlteration> creds = new ArrayList<>();
      for (String principal : want.keySet()) {
        Path file = Path.of(args[2], "kafka-" + principal + ".password");
        String password = Files.readString(file, StandardCharsets.UTF_8).strip();
        if (password.isEmpty()) fail(file + " is empty");
        creds.add(new UserScramCredentialUpsertion(principal,
            new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS), password));
      }
      admin.alterUserScramCredentials(creds).all().get();
      int created = 0;
      int deleted = 0;
      for (Map.Entry<String, Set<AclBinding>> e : want.entrySet()) {
        AclBindingFilter mine = new AclBindingFilter(ResourcePatternFilter.ANY,
            new AccessControlEntryFilter("User:" + e.getKey(), null, AclOperation.ANY,
                AclPermissionType.ANY));
        Collection<AclBinding> have = admin.describeAcls(mine).values().get();
        List<AclBindingFilter> stale = new ArrayList<>();
        for (AclBinding b : have) {
          if (!e.getValue().contains(b)) stale.add(b.toFilter());
        }
        Set<AclBinding> missing = new LinkedHashSet<>(e.getValue());
        missing.removeAll(new HashSet<>(have));
        if (!stale.isEmpty()) admin.deleteAcls(stale).all().get();
        if (!missing.isEmpty()) admin.createAcls(missing).all().get();
        created += missing.size();
        deleted += stale.size();
      }
      System.out.println("kafka auth: " + want.size() + " SCRAM-SHA-512 principals; ACLs: "
          + created + " created, " + deleted + " deleted");
    }
  }
}
