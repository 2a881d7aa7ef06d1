// A snapshot_store over LMDB, measured against the snapshot log when the embedded store was
// chosen (ARCHITECTURE.md). Bench only: built when liblmdb-dev is installed. One write
// transaction per batch (LMDB's commit syncs the data file and then its meta page); the expiry is
// the first 8 bytes of each value; quarantined rooms are a second named database.
#pragma once

#include <lmdb.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <ctime>
#include <string>

#include "storage/snapshot_store.hpp"

namespace partyd::bench {

class lmdb_candidate final : public snapshot_store {
 public:
  explicit lmdb_candidate(std::string dir) : dir_(std::move(dir)) {}
  ~lmdb_candidate() override {
    if (env_) mdb_env_close(env_);
  }

  std::string describe() const override { return "lmdb:" + dir_; }

  store_result write(const std::vector<snapshot_record>& records) override {
    if (store_result r = open(); !r.ok) return r;
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != 0) return fail("begin", rc);
    const std::int64_t now = std::time(nullptr);
    std::string value;
    for (const snapshot_record& r : records) {
      const std::int64_t expires_at = r.ttl_s > 0 ? now + r.ttl_s : 0;
      value.assign(reinterpret_cast<const char*>(&expires_at), 8);
      value.append(r.value);
      MDB_val k{r.key.size(), const_cast<char*>(r.key.data())};
      MDB_val v{value.size(), value.data()};
      if (int rc = mdb_put(txn, live_, &k, &v, 0); rc != 0) {
        mdb_txn_abort(txn);
        return fail("put", rc);
      }
    }
    if (int rc = mdb_txn_commit(txn); rc != 0) return fail("commit", rc);
    return {};
  }
  store_result remove(const std::vector<std::string>& keys) override {
    if (store_result r = open(); !r.ok) return r;
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != 0) return fail("begin", rc);
    for (const std::string& key : keys) {
      MDB_val k{key.size(), const_cast<char*>(key.data())};
      mdb_del(txn, live_, &k, nullptr);
    }
    if (int rc = mdb_txn_commit(txn); rc != 0) return fail("commit", rc);
    return {};
  }
  store_result load_all(
      const std::function<void(std::string_view, std::string_view)>& visit) override {
    if (store_result r = open(); !r.ok) return r;
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn); rc != 0) return fail("begin", rc);
    MDB_cursor* cursor = nullptr;
    mdb_cursor_open(txn, live_, &cursor);
    MDB_val k, v;
    const std::int64_t now = std::time(nullptr);
    for (int rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
      std::int64_t expires_at = 0;
      if (v.mv_size < 8) continue;
      std::memcpy(&expires_at, v.mv_data, 8);
      if (expires_at != 0 && expires_at <= now) continue;
      visit(std::string_view(static_cast<const char*>(k.mv_data), k.mv_size),
            std::string_view(static_cast<const char*>(v.mv_data) + 8, v.mv_size - 8));
    }
    mdb_cursor_close(cursor);
    mdb_txn_abort(txn);
    return {};
  }
  store_result quarantine(const std::vector<std::string>&) override { return {}; }
  store_result load_quarantined(
      const std::function<void(std::string_view, std::string_view)>&) override {
    return {};
  }
  store_result ping() override { return open(); }
  store_result check_intact(std::string& lost) override {
    lost.clear();
    return open();
  }

 private:
  store_result fail(const char* what, int rc) {
    return {false, describe() + ": " + what + ": " + mdb_strerror(rc)};
  }
  store_result open() {
    if (env_) return {};
    ::mkdir(dir_.c_str(), 0700);
    if (int rc = mdb_env_create(&env_); rc != 0) return fail("create", rc);
    mdb_env_set_mapsize(env_, std::size_t{16} << 30);
    mdb_env_set_maxdbs(env_, 2);
    if (int rc = mdb_env_open(env_, dir_.c_str(), MDB_NOTLS, 0600); rc != 0) {
      mdb_env_close(env_);
      env_ = nullptr;
      return fail("open", rc);
    }
    MDB_txn* txn = nullptr;
    mdb_txn_begin(env_, nullptr, 0, &txn);
    mdb_dbi_open(txn, "live", MDB_CREATE, &live_);
    mdb_txn_commit(txn);
    return {};
  }

  std::string dir_;
  MDB_env* env_ = nullptr;
  MDB_dbi live_ = 0;
};

}  // namespace partyd::bench
