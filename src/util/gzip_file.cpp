#include "util/gzip_file.hpp"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "util/errors.hpp"
#include "util/files.hpp"

namespace pgleak::util {

GzipFile::GzipFile(const std::string& path) : path_(path) {
  const int fd = open_output_stream(path);
  // Level 6 (zlib's default): about 20 MB/s of JSON on one core, a tenth of
  // its size.
  file_ = ::gzdopen(fd, "wb6");
  if (file_ == nullptr) {
    ::close(fd);
    throw InfrastructureError("cannot write " + path + ": out of memory for compression");
  }
}

GzipFile::~GzipFile() {
  if (file_ != nullptr) {
    ::gzclose(static_cast<gzFile>(file_));
  }
}

void GzipFile::fail(const char* what) {
  int code = 0;
  const char* message = file_ != nullptr ? ::gzerror(static_cast<gzFile>(file_), &code) : "";
  const std::string why = code == Z_ERRNO ? std::strerror(errno) : message;
  throw InfrastructureError("cannot write " + path_ + ": " + what + ": " + why);
}

void GzipFile::write(std::string_view text) {
  while (!text.empty()) {
    // gzwrite takes an unsigned length: large texts go in pieces.
    const auto piece = static_cast<unsigned>(std::min<size_t>(text.size(), 1U << 30));
    if (::gzwrite(static_cast<gzFile>(file_), text.data(), piece) != static_cast<int>(piece)) {
      fail("compressing");
    }
    text.remove_prefix(piece);
  }
}

void GzipFile::flush() {
  if (::gzflush(static_cast<gzFile>(file_), Z_SYNC_FLUSH) != Z_OK) {
    fail("flushing");
  }
}

uint64_t GzipFile::bytes_written() const {
  if (file_ == nullptr) {
    return 0;
  }
  const auto offset = ::gzoffset(static_cast<gzFile>(file_));
  return offset < 0 ? 0 : static_cast<uint64_t>(offset);
}

void GzipFile::close() {
  if (file_ == nullptr) {
    return;
  }
  const int rc = ::gzclose(static_cast<gzFile>(file_));
  file_ = nullptr;
  if (rc != Z_OK) {
    throw InfrastructureError("cannot write " + path_ +
                              ": closing: " + (rc == Z_ERRNO ? std::strerror(errno) : zError(rc)));
  }
}

std::string gunzip(std::string_view compressed, size_t max_bytes) {
  z_stream z{};
  // 15 + 16: a gzip header and trailer around the deflate stream.
  if (inflateInit2(&z, 15 + 16) != Z_OK) {
    throw InfrastructureError("cannot start zlib's inflate");
  }
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  z.avail_in = static_cast<uInt>(compressed.size());
  char buffer[64 * 1024];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof buffer;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - z.avail_out);
    if (out.size() > max_bytes) {
      inflateEnd(&z);
      throw UsageError("decompresses to more than " + std::to_string(max_bytes) + " bytes");
    }
    if (rc == Z_BUF_ERROR && z.avail_in == 0) {
      break;  // the input ended before the stream did
    }
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END && rc != Z_BUF_ERROR && rc != Z_OK) {
    throw UsageError("is not gzip data, or is corrupt");
  }
  return out;
}

}  // namespace pgleak::util
