#include "reactor/exchange_ref.h"

#include "reactor/http_server.h"

namespace recgw::reactor {

HttpExchange* ExchangeRef::get() const { return server_ ? server_->find(id_) : nullptr; }

void ExchangeRef::failInternal() const {
  if (HttpExchange* exchange = get()) exchange->failInternal();
}

}  // namespace recgw::reactor
