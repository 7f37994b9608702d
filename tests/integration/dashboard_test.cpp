// The dashboard's server side (issue 24), through real sockets: the sign-in link, the checks
// every request passes (Host, cookie, CSRF header, Origin), the WebSocket terminal with its
// re-attach and replay, bulk operations and forwards. The pages themselves are tested in a
// real browser by tests/dashboard (node --test); these run in every round, sanitizers included.
#include "test_support.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include <regex>
#include <thread>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using berth::test::Result;
using berth::test::ServerHome;
using Json = nlohmann::json;

struct Link {
  int port = 0;
  std::string token;
};

Link dashboard_link(const ServerHome& server) {
  Result printed = server.berth({"dashboard", "--print"});
  EXPECT_EQ(printed.exit_code, 0) << printed.err;
  std::smatch match;
  std::string out = printed.out;
  EXPECT_TRUE(std::regex_search(out, match, std::regex(R"(^http://127\.0\.0\.1:([0-9]+)/\?token=([0-9a-f]+)\n$)"))) << out;
  return match.empty() ? Link{} : Link{std::stoi(match[1]), match[2]};
}

struct Answer {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
};

// One HTTP request to the dashboard's listener; headers as given (Host among them).
Answer request(int port, http::verb method, const std::string& target, const std::map<std::string, std::string>& headers,
               const std::string& body = "") {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  http::request<http::string_body> req{method, target, 11};
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  req.prepare_payload();
  http::write(socket, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  Answer answer{static_cast<int>(res.result_int()), {}, res.body()};
  for (const auto& field : res) answer.headers[std::string(field.name_string())] = std::string(field.value());
  return answer;
}

std::string host_of(int port) { return "127.0.0.1:" + std::to_string(port); }

// Signs in with a fresh link; the session's cookie and CSRF value.
struct Session {
  int port = 0;
  std::string cookie;
  std::string csrf;
};

Session sign_in(const ServerHome& server) {
  Link link = dashboard_link(server);
  Answer first = request(link.port, http::verb::get, "/?token=" + link.token, {{"Host", host_of(link.port)}});
  std::smatch match;
  std::string set_cookie = first.headers["Set-Cookie"];
  EXPECT_TRUE(std::regex_search(set_cookie, match, std::regex("berth_dashboard=([0-9a-f]+)"))) << set_cookie;
  Session session{link.port, match.empty() ? "" : "berth_dashboard=" + std::string(match[1]), ""};
  Answer info = request(link.port, http::verb::get, "/v1/dashboard/session", {{"Host", host_of(link.port)}, {"Cookie", session.cookie}});
  session.csrf = Json::parse(info.body).value("csrf", "");
  return session;
}

TEST(Dashboard, SignInHostCsrfAndOriginAreChecked) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "w"}).exit_code, 0);
  Link link = dashboard_link(server);
  ASSERT_GT(link.port, 0);
  std::string host = host_of(link.port);

  Answer first = request(link.port, http::verb::get, "/?token=" + link.token, {{"Host", host}});
  EXPECT_EQ(first.status, 303);
  EXPECT_EQ(first.headers["Location"], "/") << "the token leaves the address bar";
  EXPECT_NE(first.headers["Set-Cookie"].find("HttpOnly"), std::string::npos) << first.headers["Set-Cookie"];
  EXPECT_NE(first.headers["Set-Cookie"].find("SameSite=Strict"), std::string::npos) << first.headers["Set-Cookie"];
  EXPECT_NE(first.headers["Content-Security-Policy"].find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(request(link.port, http::verb::get, "/?token=" + link.token, {{"Host", host}}).status, 401) << "a spent token";
  EXPECT_EQ(request(link.port, http::verb::get, "/?token=" + std::string(48, '0'), {{"Host", host}}).status, 401);

  std::smatch match;
  std::string set_cookie = first.headers["Set-Cookie"];
  ASSERT_TRUE(std::regex_search(set_cookie, match, std::regex("berth_dashboard=([0-9a-f]+)")));
  std::string cookie = "berth_dashboard=" + std::string(match[1]);
  Answer page = request(link.port, http::verb::get, "/", {{"Host", host}, {"Cookie", cookie}});
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<html"), std::string::npos) << "index.html is served";
  EXPECT_EQ(request(link.port, http::verb::get, "/v1/workspaces", {{"Host", host}, {"Cookie", cookie}}).status, 200);
  EXPECT_EQ(request(link.port, http::verb::get, "/v1/workspaces", {{"Host", host}}).status, 401) << "no cookie";
  EXPECT_EQ(request(link.port, http::verb::get, "/v1/workspaces", {{"Host", "evil.example"}, {"Cookie", cookie}}).status, 403)
      << "DNS rebinding: another name";
  EXPECT_EQ(request(link.port, http::verb::get, "/v1/workspaces", {{"Host", "evil.example:" + std::to_string(link.port)}, {"Cookie", cookie}}).status, 403);
  EXPECT_EQ(request(link.port, http::verb::get, "/ui/../../etc/passwd", {{"Host", host}, {"Cookie", cookie}}).status, 404);

  Answer info = request(link.port, http::verb::get, "/v1/dashboard/session", {{"Host", host}, {"Cookie", cookie}});
  std::string csrf = Json::parse(info.body).value("csrf", "");
  ASSERT_FALSE(csrf.empty());
  Answer no_csrf = request(link.port, http::verb::post, "/v1/workspaces/w/stop", {{"Host", host}, {"Cookie", cookie}});
  EXPECT_EQ(no_csrf.status, 403) << no_csrf.body;
  Answer wrong_origin = request(link.port, http::verb::post, "/v1/workspaces/w/stop",
                                {{"Host", host}, {"Cookie", cookie}, {"X-Berth-CSRF", csrf}, {"Origin", "http://127.0.0.1:3000"}});
  EXPECT_EQ(wrong_origin.status, 403) << "a page on another port of 127.0.0.1 is another origin";
  EXPECT_EQ(server.berth({"ls", "-o", "json"}).out.find("\"stopped\""), std::string::npos) << "nothing was stopped yet";
  Answer stopped = request(link.port, http::verb::post, "/v1/workspaces/w/stop",
                           {{"Host", host}, {"Cookie", cookie}, {"X-Berth-CSRF", csrf}, {"Origin", "http://" + host}});
  EXPECT_EQ(stopped.status, 202) << stopped.body;

  // A WebSocket handshake from another origin is refused before the 101.
  std::string handshake = "GET /v1/workspaces/w/terminal HTTP/1.1\r\nHost: " + host + "\r\nCookie: " + cookie +
                          "\r\nOrigin: http://evil.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(link.port)});
  asio::write(socket, asio::buffer(handshake));
  beast::flat_buffer buffer;
  http::response<http::string_body> refused;
  http::read(socket, buffer, refused);
  EXPECT_EQ(refused.result_int(), 403u) << refused.body();

  // The socket's own server never listens beyond 127.0.0.1.
  Answer from_socket = request(link.port, http::verb::get, "/v1/server", {{"Host", host}, {"Cookie", cookie}});
  EXPECT_NE(from_socket.body.find("(dashboard)"), std::string::npos) << from_socket.body;
}

// A terminal over the WebSocket: keys go in, output comes back, a resize reaches the shell, and
// a reconnect with the terminal's id replays what it showed; 'q' ends it with its exit code.
class TerminalClient {
 public:
  TerminalClient(const Session& session, const std::string& query) : ws_(io_) {
    ws_.next_layer().connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(session.port)});
    ws_.set_option(websocket::stream_base::decorator([&](websocket::request_type& request) {
      request.set(http::field::cookie, session.cookie);
      request.set(http::field::origin, "http://127.0.0.1:" + std::to_string(session.port));
    }));
    ws_.binary(true);
    ws_.handshake(host_of(session.port), "/v1/workspaces/w/terminal" + query);
  }
  void send(char type, const std::string& payload) { ws_.write(asio::buffer(std::string(1, type) + payload)); }
  // The next message, its type first; throws when none comes within 10 s (a failing test must
  // not hang: Asio's blocking reads wait through SO_RCVTIMEO).
  std::string next() {
    beast::flat_buffer buffer;
    beast::error_code error = asio::error::timed_out;
    bool done = false;
    ws_.async_read(buffer, [&](beast::error_code result, size_t) {
      error = result;
      done = true;
    });
    io_.restart();
    io_.run_for(std::chrono::seconds(10));
    if (!done) {
      beast::get_lowest_layer(ws_).close();
      io_.restart();
      io_.run();
      throw std::runtime_error("no message from the terminal within 10 s");
    }
    if (error) throw beast::system_error(error);
    return beast::buffers_to_string(buffer.data());
  }
  // Reads output until it holds text (or the terminal ends); all output seen.
  std::string read_until(const std::string& text, std::string& seen) {
    while (seen.find(text) == std::string::npos) {
      std::string message = next();
      if (message.empty() || message[0] != 'o') return message;
      seen += message.substr(1);
    }
    return "";
  }
  void close() { ws_.close(websocket::close_code::normal); }

 private:
  asio::io_context io_;
  websocket::stream<asio::ip::tcp::socket> ws_;
};

TEST(Dashboard, TerminalEchoesResizesAndReplaysAfterAReconnect) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "w"}).exit_code, 0);
  Session session = sign_in(server);
  std::string id;
  {
    TerminalClient terminal(session, "?rows=24&cols=80");
    std::string hello = terminal.next();
    ASSERT_EQ(hello[0], 'h') << hello;
    Json said = Json::parse(hello.substr(1));
    id = said.value("terminal", "");
    EXPECT_EQ(said.value("replayed", -1), 0);
    terminal.send('i', "echo $((6*7))\n");
    std::string seen;
    EXPECT_EQ(terminal.read_until("42", seen), "") << seen;
    std::string size{0, 33, 0, 101};
    terminal.send('r', size);
    terminal.send('i', "stty size\n");
    EXPECT_EQ(terminal.read_until("33 101", seen), "") << seen;
    terminal.close();  // without 'q': the shell waits for a reconnect
  }
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(berth::test::wait_until(
      [&] {
        TerminalClient probe(session, "?id=" + id);
        std::string hello = probe.next();
        bool ok = hello[0] == 'h' && Json::parse(hello.substr(1)).value("terminal", "") == id && Json::parse(hello.substr(1)).value("replayed", 0) > 0;
        std::string seen;
        if (ok) ok = probe.read_until("42", seen).empty();
        if (ok) {
          probe.send('i', "exit 7\n");
          std::string last = probe.read_until("never printed", seen);
          EXPECT_EQ(last, "x7") << seen;
        }
        return ok;
      },
      std::chrono::seconds(10)))
      << "a reconnect with the id re-attaches and replays the output";
}

TEST(Dashboard, BulkOperationsSayForEachWhetherItWasAccepted) {
  ServerHome server;
  for (const char* name : {"a", "b", "c"}) ASSERT_EQ(server.berth({"create", name}).exit_code, 0);
  Session session = sign_in(server);
  Answer bulk = request(session.port, http::verb::post, "/v1/bulk/stop",
                        {{"Host", host_of(session.port)}, {"Cookie", session.cookie}, {"X-Berth-CSRF", session.csrf}},
                        R"({"workspaces":["a","nope","c"]})");
  ASSERT_EQ(bulk.status, 200) << bulk.body;
  Json results = Json::parse(bulk.body)["results"];
  ASSERT_EQ(results.size(), 3u) << bulk.body;
  EXPECT_TRUE(results[0]["ok"].get<bool>());
  EXPECT_FALSE(results[1]["ok"].get<bool>());
  EXPECT_EQ(results[1]["error"]["code"], "not_found");
  EXPECT_TRUE(results[2]["ok"].get<bool>());
  EXPECT_TRUE(berth::test::wait_until(
      [&] {
        Json list = Json::parse(server.berth({"ls", "-o", "json"}).out);
        std::map<std::string, std::string> states;
        for (const auto& w : list) states[w["name"]] = w["state"];
        return states["a"] == "stopped" && states["b"] == "started" && states["c"] == "stopped";
      },
      std::chrono::seconds(10)));
  Answer empty = request(session.port, http::verb::post, "/v1/bulk/stop",
                         {{"Host", host_of(session.port)}, {"Cookie", session.cookie}, {"X-Berth-CSRF", session.csrf}}, R"({"workspaces":[]})");
  EXPECT_EQ(empty.status, 400);
  EXPECT_NE(empty.body.find("'workspaces'"), std::string::npos) << empty.body;
}

// A port of the workspace (the host provider's workspace is this machine) forwarded by the server.
TEST(Dashboard, AForwardCarriesConnectionsToTheWorkspacesPortUntilClosed) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "w"}).exit_code, 0);
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &size);
  int port = ntohs(address.sin_port);
  std::thread echo([listener] {
    int connection = ::accept(listener, nullptr, nullptr);
    char buffer[64];
    ssize_t n = ::recv(connection, buffer, sizeof buffer, 0);
    if (n > 0) ::send(connection, buffer, static_cast<size_t>(n), 0);
    ::close(connection);
  });
  Session session = sign_in(server);
  std::map<std::string, std::string> headers{{"Host", host_of(session.port)}, {"Cookie", session.cookie}, {"X-Berth-CSRF", session.csrf}};
  Answer opened = request(session.port, http::verb::post, "/v1/workspaces/w/forwards", headers, "{\"port\":" + std::to_string(port) + "}");
  ASSERT_EQ(opened.status, 201) << opened.body;
  int local = Json::parse(opened.body)["local_port"];
  asio::io_context io;
  asio::ip::tcp::socket client(io);
  client.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(local)});
  asio::write(client, asio::buffer(std::string("ping")));
  std::string got(4, '\0');
  asio::read(client, asio::buffer(got));
  EXPECT_EQ(got, "ping");
  echo.join();
  ::close(listener);
  Answer again = request(session.port, http::verb::post, "/v1/workspaces/w/forwards", headers, "{\"port\":" + std::to_string(port) + "}");
  EXPECT_EQ(Json::parse(again.body)["local_port"], local) << "one forward per port, reused";
  Answer closed = request(session.port, http::verb::delete_, "/v1/workspaces/w/forwards/" + std::to_string(local), headers);
  EXPECT_EQ(closed.status, 200) << closed.body;
  asio::ip::tcp::socket late(io);
  beast::error_code error;
  late.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(local)}, error);
  EXPECT_TRUE(error) << "the closed forward no longer listens";
}

}  // namespace
