#include "record/side_file.hpp"

#include "record/record_json.hpp"
#include "util/errors.hpp"

namespace pgleak::record {

SideFile::SideFile(const std::string& path, const nlohmann::json& header) : file_(path) {
  nlohmann::json first = header;
  if (!first.contains("schema")) {
    first["schema"] = "pgleak.timeline/1";
  }
  if (!write_out(json_line(first, "header"))) {
    throw util::InfrastructureError(error_);
  }
  lines_ = 1;
  thread_ = std::jthread{[this](std::stop_token stop) { writer(stop); }};
}

SideFile::~SideFile() {
  thread_ = {};  // requests stop and joins
  try {
    file_.close();
  } catch (const util::InfrastructureError&) {
    // Destroyed without close(): an exception is already unwinding the run.
  }
}

void SideFile::append(std::string line) {
  std::lock_guard lock{mutex_};
  if (closed_ || failed_.load(std::memory_order_relaxed) ||
      pending_.size() + line.size() >= kMaxPending) {
    ++dropped_;
    return;
  }
  pending_ += line;
  ++pending_lines_;
}

bool SideFile::write_out(const std::string& chunk) {
  std::lock_guard lock{file_mutex_};
  if (!error_.empty()) {
    return false;
  }
  try {
    file_.write(chunk);
    file_.flush();
    return true;
  } catch (const util::InfrastructureError& e) {
    error_ = e.what();
    failed_ = true;
    return false;
  }
}

void SideFile::writer(std::stop_token stop) {
  constexpr auto kEvery = std::chrono::milliseconds{250};
  std::string chunk;
  while (true) {
    uint64_t lines = 0;
    {
      std::unique_lock lock{mutex_};
      wake_.wait_for(lock, stop, kEvery, [] { return false; });
      chunk.swap(pending_);
      lines = std::exchange(pending_lines_, 0);
    }
    if (!chunk.empty()) {
      const bool ok = write_out(chunk);
      chunk.clear();
      std::lock_guard lock{mutex_};
      (ok ? lines_ : dropped_) += lines;
    }
    if (stop.stop_requested()) {
      // Lines appended while the last chunk was being written go out too
      // (the wait above returns at once once a stop was asked for).
      std::lock_guard lock{mutex_};
      if (pending_.empty()) {
        return;
      }
    }
  }
}

SideFile::Status SideFile::close(const nlohmann::json& end) {
  thread_ = {};  // the writer writes what was pending and returns
  Status status;
  {
    std::lock_guard lock{mutex_};
    closed_ = true;
    status.lines = lines_;
    status.dropped = dropped_;
  }
  status.lines += write_out(json_line(end, "end")) ? 1 : 0;
  std::lock_guard lock{file_mutex_};
  status.path = file_.path();
  status.compressed_bytes = file_.bytes_written();
  if (error_.empty()) {
    try {
      file_.close();
    } catch (const util::InfrastructureError& e) {
      error_ = e.what();
    }
  }
  status.error = error_;
  return status;
}

}  // namespace pgleak::record
