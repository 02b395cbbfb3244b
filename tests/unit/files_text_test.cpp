// util/files and util/text: reading inputs and writing outputs as a root-run
// CI tool must, and text from elsewhere made safe for a terminal.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "../scratch_dir.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"
#include "util/text.hpp"

namespace pgleak::util {
namespace {

namespace fs = std::filesystem;

using Scratch = testing::ScratchDir;

std::string usage_reason(const std::function<void()>& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ReadRegularFile, ReadsAFileAndRefusesEverythingElseWithoutBlocking) {
  Scratch dir;
  std::ofstream{dir / "s.json"} << "{}";
  EXPECT_EQ(read_regular_file((dir / "s.json").string(), 100), "{}");
  EXPECT_NE(
      usage_reason([&] { read_regular_file((dir / "s.json").string(), 1); }).find("larger than"),
      std::string::npos);
  fs::create_symlink(dir / "s.json", dir / "link.json");
  EXPECT_NE(usage_reason([&] {
              read_regular_file((dir / "link.json").string(), 100);
            }).find("symbolic link"),
            std::string::npos);
  EXPECT_NE(usage_reason([&] { read_regular_file((dir / "").string(), 100); }).find("directory"),
            std::string::npos);
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  // No writer: a blocking open would hang forever.
  EXPECT_NE(usage_reason([&] { read_regular_file((dir / "fifo").string(), 100); }).find("FIFO"),
            std::string::npos);
  EXPECT_NE(usage_reason([] { read_regular_file("/dev/zero", 100); }).find("device"),
            std::string::npos);
  EXPECT_NE(
      usage_reason([&] { read_regular_file((dir / "none").string(), 100); }).find("cannot read"),
      std::string::npos);
}

TEST(OutputFiles, RefusedBeforeTheRunWhenTheyCouldNeverBeWritten) {
  Scratch dir;
  std::ofstream{dir / "file"} << "x";
  EXPECT_NE(usage_reason([&] {
              check_output_path((dir / "file" / "r.json").string());
            }).find("cannot write"),
            std::string::npos);
  fs::create_directory(dir / "adir");
  EXPECT_NE(usage_reason([&] { check_output_path((dir / "adir").string()); }).find("directory"),
            std::string::npos);
  fs::create_symlink("/etc/passwd", dir / "planted.json");
  EXPECT_NE(usage_reason([&] {
              check_output_path((dir / "planted.json").string());
            }).find("symbolic link"),
            std::string::npos);
  EXPECT_NE(usage_reason([] { check_output_path(""); }).find("empty"), std::string::npos);
  // Missing directories are made; nothing is left behind by the probe.
  EXPECT_EQ(check_output_path((dir / "a" / "b" / "r.json").string()), OutputKind::kFile);
  EXPECT_TRUE(fs::is_empty(dir / "a" / "b"));
  EXPECT_EQ(check_output_path("/dev/null"), OutputKind::kStream);
}

TEST(OutputFiles, ReplacesARegularFileAtomicallyAndWritesDevicesInPlace) {
  Scratch dir;
  const auto target = (dir / "r.json").string();
  std::ofstream{target} << "old";
  write_output_file(target, "new\n");
  std::ifstream in{target};
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>{in}, {}), "new\n");
  EXPECT_EQ(std::distance(fs::directory_iterator{dir / ""}, fs::directory_iterator{}), 1);
  struct stat st {};
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);

  write_output_file("/dev/null", "into the void");
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "/dev/null must stay a device";

  // A FIFO nobody reads fails at once instead of hanging; one with a reader gets the text.
  const auto fifo = (dir / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THROW(write_output_file(fifo, "x"), InfrastructureError);
  std::string got;
  std::thread reader{[&] {
    std::ifstream f{fifo};
    got.assign(std::istreambuf_iterator<char>{f}, {});
  }};
  // The reader's open blocks until a writer appears; retry until it is there.
  bool written = false;
  for (int i = 0; i < 500 && !written; ++i) {
    try {
      write_output_file(fifo, "through the pipe");
      written = true;
    } catch (const InfrastructureError&) {
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
  }
  reader.join();
  EXPECT_TRUE(written);
  EXPECT_EQ(got, "through the pipe");
}

TEST(Printable, EscapesWhatCouldDrawOnATerminal) {
  EXPECT_EQ(printable("plain text, café ✓"), "plain text, café ✓");
  EXPECT_EQ(printable("\x1b[2Jall fine"), "\\x1b[2Jall fine");
  EXPECT_EQ(printable("a\rb\nc\td"), "a\\x0db\\x0ac\\x09d");
  EXPECT_EQ(printable("\xc2\x9b"
                      "31m"),
            "\\u009b31m");  // C1 CSI
  EXPECT_EQ(printable("\x7f"), "\\x7f");
  EXPECT_EQ(printable("bad \xff\xfe utf8"), "bad \\xff\\xfe utf8");
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");  // overlong '/'
  EXPECT_EQ(printable_lines("line 1\nline \x1b 2"), "line 1\nline \\x1b 2");
  EXPECT_EQ(valid_utf8("ok \xff end"), "ok \xEF\xBF\xBD end");
  EXPECT_EQ(valid_utf8("café"), "café");
}

}  // namespace
}  // namespace pgleak::util
