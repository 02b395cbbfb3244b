#include <iostream>

#include "cli/app.hpp"
#include "cli/signal_watcher.hpp"

int main(int argc, char** argv) {
  const pgleak::cli::SignalWatcher signals;  // before any other thread exists
  return pgleak::cli::run_cli(argc, argv, std::cout, std::cerr, signals);
}
