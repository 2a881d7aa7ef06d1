#include "storage/snapshot_store.hpp"
