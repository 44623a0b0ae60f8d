// kafka-consumer-child: a sluice::kafka::Consumer in a process of its own, for the tests and the
// benchmark that kill a consumer with SIGKILL (a crash) and measure how soon its successor
// handles events again.
//
//   kafka-consumer-child BROKERS TOPIC GROUP INSTANCE_ID OUT_FILE
//
// INSTANCE_ID "-" means dynamic membership. Appends one line per handled record to OUT_FILE:
// "<partition> <offset> <value>\n" (values must hold no newline), written with one write(2)
// each, so a reader never sees half a line from a killed child.
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <sluice/core/logging.hpp>
#include <sluice/kafka/kafka.hpp>
#include <string>

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s BROKERS TOPIC GROUP INSTANCE_ID|- OUT_FILE\n", argv[0]);
    return 2;
  }
  // Blocked before any thread starts, so that only sigwait() below sees them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  sluice::core::InitLogging("kafka-consumer-child", "info");
  const int out = ::open(argv[5], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) {
    std::perror(argv[5]);
    return 1;
  }
  sluice::kafka::KafkaConfig config;
  config.brokers = argv[1];
  config.client_id = "kafka-consumer-child";
  if (std::string(argv[4]) != "-") config.instance_id = argv[4];
  sluice::kafka::ConsumerOptions options;
  options.topics = {argv[2]};
  options.group_id = argv[3];
  options.poll_timeout = std::chrono::milliseconds(20);
  sluice::kafka::Producer dead_letters(config);
  sluice::kafka::Consumer consumer(
      config, options,
      [out](const sluice::kafka::ConsumedMessage& m) {
        const std::string line =
            std::to_string(m.partition) + " " + std::to_string(m.offset) + " " + m.value + "\n";
        if (::write(out, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
          throw std::runtime_error("cannot write the output file");
        }
      },
      dead_letters);
  consumer.Start();
  int sig = 0;
  sigwait(&stop, &sig);
  consumer.Stop();
  return 0;
}
