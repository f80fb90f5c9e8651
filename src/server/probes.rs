//! Where a connection's [`Activity`] is noted: its socket ([`Watched`]), the
//! router as hyper calls it ([`Tracked`]), the request's body as the handler
//! reads it ([`RequestBody`]) and the answer's body as hyper writes it
//! ([`AnswerBody`]). Each forwards everything else untouched.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::routing::future::RouteFuture;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::Routes;
use super::activity::{Activity, Handling, InFlight};

/// The socket, noting when bytes come and go.
pub(super) struct Watched {
    pub(super) stream: TcpStream,
    pub(super) activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            this.activity.read();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.stream).poll_write(cx, buf))?;
        this.activity.wrote();
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.stream).poll_write_vectored(cx, bufs))?;
        this.activity.wrote();
        Poll::Ready(Ok(written))
    }

    // Forwarded, or hyper would copy every answer into one buffer instead of
    // handing the kernel its parts.
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The routes as hyper calls them, noting each request's start and end.
pub(super) struct Tracked {
    pub(super) routes: Routes,
    pub(super) activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response<AnswerBody>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let (in_flight, handling) = self.activity.start_request();
        let answer = match self.front_door(&request) {
            Some(response) => Coming::Ready(Some(response)),
            None => {
                let activity = Arc::clone(&self.activity);
                let request = request.map(|body| RequestBody { body, activity });
                // A `Router` is always ready (its `poll_ready` is `Ready` at
                // once), and a clone is one reference count: what
                // `axum::serve` did too.
                let mut router = self.routes.router.clone();
                Coming::Routed(tower_service::Service::call(&mut router, request))
            }
        };
        Answer {
            answer,
            in_flight: Some(in_flight),
            handling: Some(handling),
        }
    }
}

impl Tracked {
    /// The front door's answer to a request without a body.
    fn front_door(&self, request: &Request<Incoming>) -> Option<axum::response::Response> {
        let front = self.routes.front.as_ref()?;
        if !http_body::Body::is_end_stream(request.body()) {
            return None;
        }
        front.answer(request.method(), request.uri(), request.headers())
    }
}

/// The answer to come; the request is being handled until then.
pub(super) struct Answer {
    answer: Coming,
    in_flight: Option<InFlight>,
    handling: Option<Handling>,
}

enum Coming {
    /// From the front door (taken once polled).
    Ready(Option<axum::response::Response>),
    Routed(RouteFuture<Infallible>),
}

impl Future for Answer {
    type Output = Result<Response<AnswerBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let response = match &mut this.answer {
            Coming::Ready(response) => response
                .take()
                .expect("BUG: an answer is not polled again once ready"),
            Coming::Routed(routed) => ready!(Pin::new(routed).poll(cx))?,
        };
        this.handling = None;
        let in_flight = this
            .in_flight
            .take()
            .expect("BUG: an answer is not polled again once ready");
        Poll::Ready(Ok(response.map(|body| AnswerBody {
            body,
            _in_flight: in_flight,
        })))
    }
}

/// A request's body, noting when its handler waits for the client.
pub(super) struct RequestBody {
    body: Incoming,
    activity: Arc<Activity>,
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        this.activity.body_awaited(frame.is_pending());
        frame
    }

    // Forwarded: the body's length limit rejects early on the size hint.
    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        self.activity.body_awaited(false);
    }
}

/// An answer's body; the request stays in flight until hyper drops it.
pub(super) struct AnswerBody {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for AnswerBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    // Forwarded: hyper sets `Content-Length` from the size hint.
    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
