//! Test fixture: an HTTP filter that appends headers to every response.
//!
//! The plugin configuration is a JSON object of header name -> value,
//! e.g. `{"x-powered-by": "sme2wasm"}`, the same shape Maistra's
//! header-append-filter example takes. Headers are appended in name order
//! (serde_json's default map is sorted). Invalid configuration is logged
//! and rejected.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::rc::Rc;

type Headers = Rc<Vec<(String, String)>>;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> {
        Box::new(HeaderAppendRoot { headers: Rc::default() })
    });
}}

struct HeaderAppendRoot {
    headers: Headers,
}

impl Context for HeaderAppendRoot {}

impl RootContext for HeaderAppendRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let Some(bytes) = self.get_plugin_configuration() else {
            self.headers = Rc::default();
            return true;
        };
        match parse_config(&bytes) {
            Ok(headers) => {
                self.headers = Rc::new(headers);
                true
            }
            Err(err) => {
                log::error!("header-append: invalid configuration: {err}");
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(HeaderAppend {
            headers: Rc::clone(&self.headers),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Accepts a JSON object whose values are strings; anything else is an error.
fn parse_config(bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let object = value
        .as_object()
        .ok_or("expected a JSON object of header name -> value")?;
    object
        .iter()
        .map(|(name, value)| match value.as_str() {
            Some(v) => Ok((name.clone(), v.to_owned())),
            None => Err(format!("value of header {name:?} is not a string")),
        })
        .collect()
}

struct HeaderAppend {
    headers: Headers,
}

impl Context for HeaderAppend {}

impl HttpContext for HeaderAppend {
    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        for (name, value) in self.headers.iter() {
            self.add_http_response_header(name, value);
        }
        Action::Continue
    }
}
