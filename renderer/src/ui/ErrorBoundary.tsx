// One per pane: an error thrown while rendering shows in place, with the message and a way to
// try again, and the rest of the window keeps working (never a blank screen).
import { Component, type ReactNode } from 'react';

interface Props {
  name: string;
  children: ReactNode;
}

export class ErrorBoundary extends Component<Props, { error: Error | null }> {
  override state: { error: Error | null } = { error: null };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  override componentDidCatch(error: Error) {
    console.error(`${this.props.name} failed:`, error);
  }

  override render() {
    if (!this.state.error) return this.props.children;
    return (
      <div className="pane-error" role="alert">
        <h2>The {this.props.name} hit a problem</h2>
        <p>{this.state.error.message}</p>
        <button className="btn small" onClick={() => this.setState({ error: null })}>Try again</button>
      </div>
    );
  }
}
