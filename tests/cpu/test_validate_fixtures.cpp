// The validation cases of tests/fixtures/validate (cases.json: file -> the text
// its one problem contains), through the C++ validator. The Python validator
// reads the same cases (tests/analysis/test_validate_fixtures.py), so the two
// keep the same rules and messages.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "harness/core/json.h"
#include "harness/core/results.h"

namespace btc {
namespace {
namespace fs = std::filesystem;

const fs::path kCases = fs::path(BTC_SOURCE_DIR) / "tests" / "fixtures" / "validate";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Case {
  std::string file, problem;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  const json::Value manifest = json::parse(slurp(kCases / "cases.json"));
  for (const auto& c : manifest.as_array())
    out.push_back({c.find("file")->as_string(), c.find("problem")->as_string()});
  return out;
}

// What load_results_file says about `path`: "" when it loads.
std::string load_error(const std::string& path, std::uintmax_t max_bytes = kMaxResultsFileBytes) {
  try {
    load_results_file(path, max_bytes);
    return "";
  } catch (const ResultsError& e) {
    return e.what();
  }
}

TEST(ValidateFixtures, EveryCaseGetsItsProblem) {
  const auto all = cases();
  ASSERT_GE(all.size(), 20u) << "cases.json lost its cases";
  int valid = 0;
  for (const Case& c : all) {
    SCOPED_TRACE(c.file);
    const std::string err = load_error((kCases / c.file).string());
    if (c.problem.empty()) {
      ++valid;
      EXPECT_EQ(err, "");
    } else {
      EXPECT_NE(err.find(c.problem), std::string::npos) << "got: " << err << "\nwant it to contain: " << c.problem;
    }
  }
  EXPECT_GE(valid, 1);
}

// Each case has one defect, and the validator names that one only: no
// unrelated complaint rides along.
TEST(ValidateFixtures, EachJsonCaseHasExactlyOneProblem) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.file);
    json::Value root;
    try {
      root = json::parse(slurp(kCases / c.file));
    } catch (const json::ParseError&) {
      continue;  // the raw cases (empty, truncated)
    }
    const auto problems = validate_results(root);
    if (c.problem.empty()) {
      EXPECT_TRUE(problems.empty()) << problems[0];
    } else {
      ASSERT_EQ(problems.size(), 1u) << (problems.empty() ? "none" : problems[0] + " | " + problems.back());
      EXPECT_NE(problems[0].find(c.problem), std::string::npos) << problems[0];
    }
  }
}

TEST(ValidateFixtures, DirectoryAndSizeCapHaveTheirOwnMessages) {
  EXPECT_EQ(load_error(kCases.string()), "'" + kCases.string() + "' is a directory, not a results file");
  const fs::path valid = kCases / "valid.json";
  const auto bytes = fs::file_size(valid);
  EXPECT_EQ(load_error(valid.string(), bytes), "");
  EXPECT_EQ(load_error(valid.string(), bytes - 1),
            "'" + valid.string() + "' is " + std::to_string(bytes) + " bytes, over the " + std::to_string(bytes - 1) +
                "-byte limit for a results file");
  EXPECT_NE(load_error((kCases / "no-such-file.json").string()).find("cannot read"), std::string::npos);
}

}  // namespace
}  // namespace btc
