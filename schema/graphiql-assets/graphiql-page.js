// The GraphiQL page: queries and mutations over HTTP, subscriptions over the WebSocket at the
// same URL (graphql-transport-ws), both signed in with the Headers pane's Authorization: the
// socket gets it in its connection_init payload, as browsers cannot set a socket's headers.
(function () {
  const url = new URL("/graphql", window.location.href);
  const socketUrl = new URL(url);
  socketUrl.protocol = url.protocol === "https:" ? "wss:" : "ws:";

  const overHttp = GraphiQL.createFetcher({ url: url.toString() });

  let socket = null;
  let socketAuthorization = null;

  function authorizationOf(headers) {
    if (!headers) return null;
    for (const name of Object.keys(headers)) {
      if (name.toLowerCase() === "authorization") return String(headers[name]);
    }
    return null;
  }

  // One socket, made again when the Authorization in the Headers pane changes.
  function socketFor(headers) {
    const authorization = authorizationOf(headers);
    if (socket === null || authorization !== socketAuthorization) {
      if (socket !== null) socket.dispose();
      socketAuthorization = authorization;
      socket = graphqlWs.createClient({
        url: socketUrl.toString(),
        connectionParams: authorization ? { Authorization: authorization } : {},
        lazy: true,
      });
    }
    return socket;
  }

  function isSubscription(params) {
    try {
      const document = GraphiQL.GraphQL.parse(params.query);
      const operations = document.definitions.filter((d) => d.kind === "OperationDefinition");
      const chosen = params.operationName
        ? operations.find((o) => o.name && o.name.value === params.operationName)
        : operations[0];
      return Boolean(chosen) && chosen.operation === "subscription";
    } catch (error) {
      return false; // the server reports the syntax error
    }
  }

  function fetcher(params, options) {
    if (!isSubscription(params)) return overHttp(params, options);
    const client = socketFor(options && options.headers);
    // An observable, which GraphiQL shows result by result.
    return {
      subscribe(observer) {
        const dispose = client.subscribe(params, {
          next: (value) => observer.next(value),
          error: (error) =>
            observer.error(error instanceof Error ? error : new Error(describe(error))),
          complete: () => observer.complete(),
        });
        return { unsubscribe: dispose };
      },
    };
  }

  function describe(error) {
    if (error && typeof error.code === "number") {
      return `The socket closed (${error.code}${error.reason ? ": " + error.reason : ""})`;
    }
    return JSON.stringify(error);
  }

  const explorer = GraphiQLPluginExplorer.explorerPlugin();

  function Page() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorer],
      defaultEditorToolsVisibility: true,
      // Tokens typed into the Headers pane stay in this tab unless the user asks to keep them.
      shouldPersistHeaders: false,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(Page));
})();
