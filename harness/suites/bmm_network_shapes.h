// The binary fully connected layers of the shipped networks (models/), as the
// `bmm` sweep times them: N outputs x K input bits, at batch 1 and at the
// model's own batch, so the per-shape BMM selection (analysis.select.bmm_shapes)
// has a measured row for every network FC layer the runner looks up (it
// matches N and K exactly). tests/cpu/test_net_model.cpp holds this table to
// the model files: every bfc of every shipped model, and nothing else.
#pragma once

namespace btc::bmm_sweep {

struct NetworkFc {
  const char* model;
  const char* layer;
  int n, k;        // outputs, input bits (the layer's dot_bits)
  int batch;       // the model's batch (models/<model>.model `batch`)
};

inline constexpr NetworkFc kNetworkFcs[] = {
    {"resnet18-tcbnn", "fc1", 512, 25088, 512},   {"resnet18-tcbnn", "fc2", 1000, 512, 512},
    {"alexnet", "fc1", 4096, 9216, 512},          {"alexnet", "fc2", 4096, 4096, 512},
    {"alexnet", "fc3", 1000, 4096, 512},          {"vgg16", "fc1", 4096, 25088, 512},
    {"vgg16", "fc2", 4096, 4096, 512},            {"vgg16", "fc3", 1000, 4096, 512},
    {"cifar10-vgg", "fc1", 1024, 8192, 512},      {"cifar10-vgg", "fc2", 1024, 1024, 512},
    {"cifar10-vgg", "fc3", 10, 1024, 512},        {"cifar10-resnet14", "fc1", 512, 32768, 512},
    {"cifar10-resnet14", "fc2", 10, 512, 512},    {"mnist-mlp", "fc1", 1024, 784, 32768},
    {"mnist-mlp", "fc2", 1024, 1024, 32768},      {"mnist-mlp", "fc3", 1024, 1024, 32768},
    {"mnist-mlp", "fc4", 10, 1024, 32768},
};

}  // namespace btc::bmm_sweep
