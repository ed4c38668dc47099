// Test fixture: adds a `hello` header to every response. The value is the
// plugin configuration string, or "world!" when there is none.
export * from "@solo-io/proxy-runtime/proxy"; // exports the ABI functions the proxy calls
import {
  RootContext,
  Context,
  registerRootContext,
  FilterHeadersStatusValues,
  stream_context,
} from "@solo-io/proxy-runtime";

class HelloRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new Hello(context_id, this);
  }
}

class Hello extends Context {
  constructor(context_id: u32, root_context: HelloRoot) {
    super(context_id, root_context);
  }

  onResponseHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const configuration = this.root_context.getConfiguration();
    const value = configuration == "" ? "world!" : configuration;
    stream_context.headers.response.add("hello", value);
    return FilterHeadersStatusValues.Continue;
  }
}

registerRootContext((context_id: u32) => {
  return new HelloRoot(context_id);
}, "as_hello");
