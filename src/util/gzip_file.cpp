#include "util/gzip_file.hpp"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "util/errors.hpp"
#include "util/files.hpp"

namespace pgleak::util {

namespace {

z_stream* stream_of(void* z) {
  return static_cast<z_stream*>(z);
}

}  // namespace

GzipFile::GzipFile(const std::string& path) : path_(path) {
  fd_ = open_output_stream(path);
  auto z = std::make_unique<z_stream>();
  // Level 6 (zlib's default): about 20 MB/s of JSON on one core, a tenth of
  // its size; 15 + 16: a gzip header and trailer around the deflate stream.
  if (deflateInit2(z.get(), 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    ::close(fd_);
    throw InfrastructureError("cannot write " + path + ": out of memory for compression");
  }
  z_ = z.release();
}

GzipFile::~GzipFile() {
  if (z_ != nullptr) {
    deflateEnd(stream_of(z_));
    delete stream_of(z_);
  }
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void GzipFile::fail(const std::string& what) {
  throw InfrastructureError("cannot write " + path_ + ": " + what);
}

void GzipFile::deflate_and_write(std::string_view text, int flush) {
  if (z_ == nullptr) {
    fail("already closed");
  }
  auto* z = stream_of(z_);
  z->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z->avail_in = 0;
  char out[64 * 1024];
  do {
    // deflate takes an unsigned length: large texts go in pieces.
    if (z->avail_in == 0 && !text.empty()) {
      const auto piece = std::min<size_t>(text.size(), 1U << 30);
      z->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
      z->avail_in = static_cast<uInt>(piece);
      text.remove_prefix(piece);
    }
    z->next_out = reinterpret_cast<Bytef*>(out);
    z->avail_out = sizeof out;
    const int rc = deflate(z, text.empty() ? flush : Z_NO_FLUSH);
    if (rc == Z_STREAM_ERROR) {
      fail("compressing: zlib's stream is broken");
    }
    const size_t produced = sizeof out - z->avail_out;
    // Through write_fully: a FIFO's stalled reader cannot hold pgleak past a
    // signal or the stall bound.
    if (produced > 0 && !write_fully(fd_, std::string_view{out, produced})) {
      fail(write_failure(errno));
    }
    bytes_ += produced;
  } while (z->avail_out == 0 || z->avail_in > 0 || !text.empty());
}

void GzipFile::write(std::string_view text) {
  if (!text.empty()) {
    deflate_and_write(text, Z_NO_FLUSH);
  }
}

void GzipFile::flush() {
  deflate_and_write({}, Z_SYNC_FLUSH);
}

uint64_t GzipFile::bytes_written() const {
  return bytes_;
}

void GzipFile::close() {
  if (z_ == nullptr) {
    return;
  }
  deflate_and_write({}, Z_FINISH);
  deflateEnd(stream_of(z_));
  delete stream_of(z_);
  z_ = nullptr;
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) {
    fail(std::string{"closing: "} + std::strerror(errno));
  }
}

bool gunzip_each(std::string_view compressed, size_t max_bytes,
                 const std::function<void(std::string_view)>& on_chunk) {
  z_stream z{};
  // 15 + 16: a gzip header and trailer around the deflate stream.
  if (inflateInit2(&z, 15 + 16) != Z_OK) {
    throw InfrastructureError("cannot start zlib's inflate");
  }
  struct End {
    z_stream* z;
    ~End() { inflateEnd(z); }
  } end{&z};
  size_t total = 0;
  char buffer[64 * 1024];
  int rc = Z_OK;
  while (rc == Z_OK) {
    // inflate takes an unsigned length: large inputs go in pieces.
    if (z.avail_in == 0 && !compressed.empty()) {
      const auto piece = std::min<size_t>(compressed.size(), 1U << 30);
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
      z.avail_in = static_cast<uInt>(piece);
      compressed.remove_prefix(piece);
    }
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof buffer;
    rc = inflate(&z, Z_NO_FLUSH);
    const size_t produced = sizeof buffer - z.avail_out;
    total += produced;
    if (total > max_bytes) {
      throw UsageError("decompresses to more than " + std::to_string(max_bytes) + " bytes");
    }
    if (produced > 0) {
      on_chunk(std::string_view{buffer, produced});
    }
    if (rc == Z_BUF_ERROR && z.avail_in == 0 && compressed.empty()) {
      return false;  // the input ended before the stream did
    }
  }
  if (rc != Z_STREAM_END) {
    throw UsageError("is not gzip data, or is corrupt");
  }
  return true;
}

std::string gunzip(std::string_view compressed, size_t max_bytes) {
  std::string out;
  gunzip_each(compressed, max_bytes, [&out](std::string_view chunk) { out.append(chunk); });
  return out;
}

}  // namespace pgleak::util
