#pragma once

// Text compressed as gzip in memory, for the targets whose readers take gzip
// files (a killed shard's timeline, a capture): the fuzzer mutates the text,
// the reader gets it compressed.
#include <zlib.h>

#include <string>

namespace pgleak::fuzz {

inline std::string gzip_text(const std::string& text) {
  z_stream z{};
  deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, text.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  return out;
}

}  // namespace pgleak::fuzz
