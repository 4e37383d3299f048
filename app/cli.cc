#include "app/cli.h"

namespace recgw::app {

int runToolCommand(const std::string& /*command*/, const std::vector<std::string>& /*args*/) { return -1; }

}  // namespace recgw::app
