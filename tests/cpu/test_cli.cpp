#include "harness/core/cli.h"

#include <gtest/gtest.h>

namespace btc {
namespace {

const std::vector<std::string> kSuites = {"instr", "stride"};

Command parse(std::vector<std::string> args) { return parse_command_line(args, kSuites); }

std::string error_of(std::vector<std::string> args) {
  try {
    parse(std::move(args));
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(Cli, SweepDefaults) {
  Command c = parse({"sweep", "instr"});
  EXPECT_EQ(c.kind, Command::Kind::kSweep);
  EXPECT_EQ(c.sweep.suite, "instr");
  EXPECT_EQ(c.sweep.out_dir, "results");
  EXPECT_TRUE(c.sweep.counters);
  EXPECT_FALSE(c.sweep.force);
  EXPECT_EQ(c.sweep.repetitions, 7);
}

TEST(Cli, MaxSecondsIsAPositiveCount) {
  EXPECT_EQ(parse({"sweep", "instr"}).sweep.max_seconds, 0);
  EXPECT_EQ(parse({"sweep", "instr", "--max-seconds", "180"}).sweep.max_seconds, 180);
  EXPECT_EQ(parse({"sweep", "instr", "--max-seconds=5"}).sweep.max_seconds, 5);
  EXPECT_THROW(parse({"sweep", "instr", "--max-seconds", "0"}), UsageError);
  EXPECT_THROW(parse({"sweep", "instr", "--max-seconds", "soon"}), UsageError);
  EXPECT_THROW(parse({"run", "tiny-bireal", "--max-seconds", "5"}), UsageError);
}

TEST(Cli, SweepFlagsBothSpellings) {
  Command c = parse({"sweep", "--out=/tmp/r", "instr", "--force", "--no-counters", "--filter", "tput/.*",
                     "--repetitions=11", "--device", "1"});
  EXPECT_EQ(c.sweep.out_dir, "/tmp/r");
  EXPECT_TRUE(c.sweep.force);
  EXPECT_FALSE(c.sweep.counters);
  EXPECT_EQ(c.sweep.filter, "tput/.*");
  EXPECT_EQ(c.sweep.repetitions, 11);
  EXPECT_EQ(c.sweep.device, 1);
}

TEST(Cli, QuickLowersRepetitionsUnlessGiven) {
  EXPECT_EQ(parse({"sweep", "instr", "--quick"}).sweep.repetitions, 3);
  EXPECT_EQ(parse({"sweep", "instr", "--quick", "--repetitions", "9"}).sweep.repetitions, 9);
  // The default spelled out is still an explicit choice, in either order.
  EXPECT_EQ(parse({"sweep", "instr", "--quick", "--repetitions", "7"}).sweep.repetitions, 7);
  EXPECT_EQ(parse({"sweep", "instr", "--repetitions=7", "--quick"}).sweep.repetitions, 7);
  EXPECT_EQ(parse({"sweep", "instr", "--repetitions", "7"}).sweep.repetitions, 7);
}

TEST(Cli, Metrics) {
  Command c = parse({"sweep", "instr", "--metrics", " sm__cycles_elapsed.max, dram__bytes_read.sum "});
  ASSERT_EQ(c.sweep.metrics.size(), 2u);
  EXPECT_EQ(c.sweep.metrics[1], "dram__bytes_read.sum");
  EXPECT_NE(error_of({"sweep", "instr", "--metrics", "a,,b"}), "");
}

TEST(Cli, InfoValidateHelp) {
  EXPECT_TRUE(parse({"info", "--json"}).json);
  EXPECT_EQ(parse({"validate", "f.json"}).file, "f.json");
  EXPECT_EQ(parse({"--help"}).kind, Command::Kind::kHelp);
  EXPECT_EQ(parse({"list", "instr", "--quick"}).kind, Command::Kind::kList);
}

TEST(Cli, BadInputNamesTheProblem) {
  EXPECT_EQ(error_of({}), "no command given");
  EXPECT_EQ(error_of({"frobnicate"}), "unknown command 'frobnicate'");
  EXPECT_EQ(error_of({"sweep"}), "sweep needs exactly one suite (instr, stride)");
  EXPECT_EQ(error_of({"sweep", "bmm"}), "unknown suite 'bmm' (known: instr, stride)");
  EXPECT_EQ(error_of({"sweep", "instr", "--frob"}), "unknown flag '--frob' for 'sweep'");
  EXPECT_EQ(error_of({"sweep", "instr", "-x"}), "unknown flag '-x'");
  EXPECT_EQ(error_of({"sweep", "instr", "--out"}), "--out needs a value");
  EXPECT_EQ(error_of({"sweep", "instr", "--repetitions", "0"}), "--repetitions must be between 1 and 1000, got 0");
  EXPECT_EQ(error_of({"sweep", "instr", "--repetitions", "3x"}), "--repetitions takes a whole number, got '3x'");
  EXPECT_EQ(error_of({"sweep", "instr", "--force=yes"}), "--force takes no value");
  EXPECT_EQ(error_of({"info", "--force"}), "unknown flag '--force' for 'info'");
  EXPECT_EQ(error_of({"info", "extra"}), "info takes no arguments, got 'extra'");
  EXPECT_EQ(error_of({"validate"}), "validate needs exactly one file");
  EXPECT_NE(error_of({"sweep", "instr", "--no-counters", "--metrics", "x.sum"}).find("contradict"),
            std::string::npos);
}

TEST(Cli, Compare) {
  Command c = parse({"compare", "a.json", "b.json"});
  EXPECT_EQ(c.kind, Command::Kind::kCompare);
  EXPECT_EQ(c.compare.file_a, "a.json");
  EXPECT_EQ(c.compare.file_b, "b.json");
  EXPECT_DOUBLE_EQ(c.compare.threshold_pct, 5);
  EXPECT_DOUBLE_EQ(c.compare.alpha, 0.05);
  c = parse({"compare", "--filter", "^bmm/wgmma", "a.json", "--threshold=2.5", "b.json", "--alpha", "0.01"});
  EXPECT_EQ(c.compare.filter, "^bmm/wgmma");
  EXPECT_DOUBLE_EQ(c.compare.threshold_pct, 2.5);
  EXPECT_DOUBLE_EQ(c.compare.alpha, 0.01);
  EXPECT_EQ(error_of({"compare", "a.json"}), "compare needs exactly two files (A.json B.json)");
  EXPECT_EQ(error_of({"compare", "a", "b", "c"}), "compare needs exactly two files (A.json B.json)");
  EXPECT_EQ(error_of({"compare", "a", "b", "--alpha", "0"}), "--alpha must be above 0 and at most 1, got 0");
  EXPECT_EQ(error_of({"compare", "a", "b", "--alpha", "1.5"}), "--alpha must be above 0 and at most 1, got 1.5");
  EXPECT_EQ(error_of({"compare", "a", "b", "--threshold", "-1"}),
            "--threshold must be at least 0 and at most 1000, got -1");
  EXPECT_EQ(error_of({"compare", "a", "b", "--threshold", "5%"}), "--threshold takes a number, got '5%'");
  EXPECT_NE(error_of({"compare", "a", "b", "--filter", "(("}).find("not a valid regular expression"),
            std::string::npos);
  EXPECT_EQ(error_of({"compare", "a", "b", "--force"}), "unknown flag '--force' for 'compare'");
  EXPECT_EQ(error_of({"sweep", "instr", "--alpha", "0.1"}), "unknown flag '--alpha' for 'sweep'");
}

TEST(Cli, CacheControl) {
  EXPECT_EQ(parse({"sweep", "instr"}).sweep.cache_control, "all");
  EXPECT_EQ(parse({"sweep", "instr", "--cache-control", "none"}).sweep.cache_control, "none");
  EXPECT_EQ(parse({"sweep", "instr", "--cache-control=all"}).sweep.cache_control, "all");
  EXPECT_EQ(error_of({"sweep", "instr", "--cache-control", "warm"}), "--cache-control takes all or none, got 'warm'");
  EXPECT_EQ(error_of({"list", "instr", "--cache-control", "none"}), "unknown flag '--cache-control' for 'list'");
}

TEST(Cli, UsageListsSuites) {
  EXPECT_NE(usage_text(kSuites).find("suites: instr, stride"), std::string::npos);
}


TEST(Cli, RunOptions) {
  const std::vector<std::string> suites = {"instr"};
  Command c = parse_command_line({"run", "resnet18-tcbnn", "--batch", "8", "--designs=popc", "--check", "--weights",
                                  "w.safetensors", "--input", "x.npy", "--repetitions", "5", "--seed", "3"},
                                 suites);
  EXPECT_EQ(c.kind, Command::Kind::kRun);
  EXPECT_EQ(c.run.model, "resnet18-tcbnn");
  EXPECT_EQ(c.run.batch, 8);
  EXPECT_EQ(c.run.designs, "popc");
  EXPECT_TRUE(c.run.check);
  EXPECT_FALSE(c.run.cpu);
  EXPECT_EQ(c.run.weights, "w.safetensors");
  EXPECT_EQ(c.run.input, "x.npy");
  EXPECT_EQ(c.run.repetitions, 5);
  EXPECT_EQ(c.run.seed, 3u);
  c = parse_command_line({"run", "tiny-resnet", "--cpu"}, suites);
  EXPECT_TRUE(c.run.cpu);
  EXPECT_EQ(c.run.batch, 0);  // the model's own
  EXPECT_THROW(parse_command_line({"run"}, suites), UsageError);
  EXPECT_THROW(parse_command_line({"run", "a", "b"}, suites), UsageError);
  EXPECT_THROW(parse_command_line({"run", "m", "--batch", "0"}, suites), UsageError);
  EXPECT_THROW(parse_command_line({"run", "m", "--cpu", "--check"}, suites), UsageError);
  EXPECT_THROW(parse_command_line({"run", "m", "--quick"}, suites), UsageError);  // a sweep flag
  EXPECT_THROW(parse_command_line({"sweep", "instr", "--batch", "2"}, suites), UsageError);  // a run flag
}

}  // namespace
}  // namespace btc
