// Entry: the stylesheet, the theme before first paint (dark unless the user chose light), the app.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.js';
import './styles.css';

document.documentElement.dataset.theme = localStorage.getItem('schnell.theme') === 'light' ? 'light' : 'dark';
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
