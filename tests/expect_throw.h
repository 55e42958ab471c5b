// Checks that a statement throws `exception` with `fragment` in its message.
#pragma once

#include <gtest/gtest.h>

#include <string>

// `one_line`: the message must also have no line break.
#define SORAGEN_EXPECT_THROW_MESSAGE(statement, exception, fragment, one_line)                \
  do {                                                                                       \
    try {                                                                                    \
      statement;                                                                             \
      ADD_FAILURE() << "no exception from " #statement;                                      \
    } catch (const exception& e_) {                                                          \
      const std::string what_ = e_.what();                                                   \
      EXPECT_NE(what_.find(fragment), std::string::npos) << what_;                           \
      if (one_line) {                                                                        \
        EXPECT_EQ(what_.find('\n'), std::string::npos) << "multi-line error: " << what_;     \
      }                                                                                      \
    }                                                                                        \
  } while (0)
