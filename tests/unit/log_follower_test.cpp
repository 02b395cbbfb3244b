// probe::LogFollower and util::LineSplitter: a log another process writes,
// followed as `tail -F` follows it (rotation by rename, copytruncate), with
// no line able to make it hold more than util::LineSplitter::kMaxLine.
#include "probe/log_follower.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../scratch_dir.hpp"

namespace pgleak::probe {
namespace {

namespace fs = std::filesystem;

void append(const fs::path& path, const std::string& text) {
  std::ofstream{path, std::ios::app} << text;
}

TEST(LineSplitter, HandsOverWholeLinesAcrossChunks) {
  util::LineSplitter s;
  std::vector<std::string> lines;
  const auto keep = [&](std::string_view l) { lines.emplace_back(l); };
  s.feed("one\ntw", keep);
  s.feed("o\n\nthr", keep);
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two", ""}));
  EXPECT_EQ(s.held(), 3u);
  s.feed("ee\n", keep);
  EXPECT_EQ(lines.back(), "three");
  EXPECT_EQ(s.held(), 0u);
}

// A line without its newline, however long, is never kept past kMaxLine:
// it is skipped to its newline and counted, and the next line is whole.
TEST(LineSplitter, ALineLongerThanTheBoundIsSkippedNotKept) {
  util::LineSplitter s;
  std::vector<std::string> lines;
  const auto keep = [&](std::string_view l) { lines.emplace_back(l); };
  const std::string mib(util::LineSplitter::kMaxLine / 4, 'x');
  for (int i = 0; i < 40; ++i) {  // 10 MiB without a newline
    s.feed(mib, keep);
    EXPECT_LE(s.held(), util::LineSplitter::kMaxLine);
  }
  s.feed("tail\nnext\n", keep);
  EXPECT_EQ(lines, std::vector<std::string>{"next"});
  EXPECT_EQ(s.overlong(), 1u);
  // One chunk holding a whole overlong line, and a line exactly at the bound.
  s.feed(std::string(util::LineSplitter::kMaxLine + 1, 'y') + "\n" +
             std::string(util::LineSplitter::kMaxLine, 'z') + "\n",
         keep);
  EXPECT_EQ(s.overlong(), 2u);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines.back().size(), util::LineSplitter::kMaxLine);
}

// Rotation by rename (logrotate's default): the old file is read to its end,
// then the new one from its start, and the gap is said.
TEST(LogFollower, FollowsARenameRotation) {
  const testing::ScratchDir dir;
  const auto log = dir.path() / "server.json";
  std::vector<std::string> lines;
  LogFollower f{log.string(), [&](std::string_view l) { lines.emplace_back(l); }};
  f.drain();  // not there yet
  append(log, "a\n");
  f.drain();
  append(log, "b\n");
  fs::rename(log, dir.path() / "server.json.1");
  append(log, "c\n");
  f.drain();
  append(log, "d\n");
  f.drain();
  EXPECT_EQ(lines, (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(f.gaps().rotations, 1u);
  EXPECT_EQ(f.gaps().truncations, 0u);
  EXPECT_NE(f.gaps().describe().find("rotated 1 time"), std::string::npos);
}

// copytruncate: the file is cut in place; reading starts again from the top.
TEST(LogFollower, FollowsACopyTruncate) {
  const testing::ScratchDir dir;
  const auto log = dir.path() / "server.json";
  std::vector<std::string> lines;
  LogFollower f{log.string(), [&](std::string_view l) { lines.emplace_back(l); }};
  append(log, "a\nb\n");
  f.drain();
  fs::resize_file(log, 0);
  append(log, "c\n");
  f.drain();
  EXPECT_EQ(lines, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(f.gaps().truncations, 1u);
  EXPECT_TRUE(f.gaps().any());
  EXPECT_NE(f.gaps().describe().find("may be missing"), std::string::npos);
}

// A link or a FIFO at the path is never read.
TEST(LogFollower, ReadsOnlyARegularFileItself) {
  const testing::ScratchDir dir;
  const auto real = dir.path() / "real";
  append(real, "secret\n");
  fs::create_symlink(real, dir.path() / "link");
  std::vector<std::string> lines;
  LogFollower f{(dir.path() / "link").string(), [&](std::string_view l) { lines.emplace_back(l); }};
  f.drain();
  EXPECT_TRUE(lines.empty());
}

}  // namespace
}  // namespace pgleak::probe
