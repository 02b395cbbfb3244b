#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

// A gzip file written as a run goes, readable up to its last flush if the
// run is killed (gzip -dc reads it and then reports the missing end).
// Compressed here with zlib's deflate and written with util::write_fully, so
// a FIFO whose reader stalls holds it no longer than a signal or the stall
// bound (util::kStalledWrite).
namespace pgleak::util {

// Thread-safety: none; one owner writes it.
class GzipFile {
 public:
  // Opens `path` as util::open_output_stream does. Throws InfrastructureError.
  explicit GzipFile(const std::string& path);
  ~GzipFile();
  GzipFile(const GzipFile&) = delete;
  GzipFile& operator=(const GzipFile&) = delete;

  // Compresses `text` into the stream. Throws InfrastructureError.
  void write(std::string_view text);
  // Ends a deflate block and writes it out, so everything written so far can
  // be read back. Throws InfrastructureError.
  void flush();
  // Ends the stream (its trailer) and closes the file. Throws
  // InfrastructureError; the destructor closes without throwing.
  void close();

  const std::string& path() const { return path_; }
  // Compressed bytes written to the file so far (up to the last flush).
  uint64_t bytes_written() const;

 private:
  [[noreturn]] void fail(const std::string& what);
  // Deflates `text` with `flush` at its end and writes what comes out.
  void deflate_and_write(std::string_view text, int flush);

  std::string path_;
  int fd_ = -1;
  void* z_ = nullptr;  // z_stream; null once closed
  uint64_t bytes_ = 0;
};

// Decompresses a gzip stream held in memory, up to `max_bytes` of output
// (more is an error). A stream cut short (a killed writer's file) gives what
// was flushed. Throws UsageError for data that is not gzip or is corrupt,
// and for output past `max_bytes`.
std::string gunzip(std::string_view compressed, size_t max_bytes);

// As gunzip(), but hands the output to `on_chunk` as it comes (at most 64 KiB
// at a time) instead of keeping it: what reads a large stream line by line
// holds only what it keeps. Returns false when the stream was cut short.
bool gunzip_each(std::string_view compressed, size_t max_bytes,
                 const std::function<void(std::string_view)>& on_chunk);

}  // namespace pgleak::util
