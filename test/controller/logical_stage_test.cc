#include "controller/logical_stage.h"
#include "gtest/gtest.h"
TEST(LogicalStagePlaceholder, ProgramCompiles) { EXPECT_TRUE(rampart::controller::CompileLogicalProgram().ok()); }
