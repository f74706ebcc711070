#include <algorithm>

#include "harness/suites/bconv_suite.h"
#include "harness/suites/bmm_suite.h"
#include "harness/suites/net_suite.h"
#include "microbench/instr_suite.h"
#include "microbench/layout_suite.h"
#include "microbench/stride_suite.h"
#include "harness/core/suite.h"

namespace btc {

const std::vector<Suite>& suites() {
  static const std::vector<Suite> all = {instr_suite(), stride_suite(), layout_suite(), bmm_suite(), bconv_suite(), net_suite()};
  return all;
}

std::vector<std::string> suite_names() {
  std::vector<std::string> names;
  for (const auto& s : suites()) names.push_back(s.name);
  return names;
}

const Suite* find_suite(const std::string& name) {
  auto it = std::find_if(suites().begin(), suites().end(), [&](const Suite& s) { return s.name == name; });
  return it == suites().end() ? nullptr : &*it;
}

}  // namespace btc
